"""The moto server the tests run (scripts/test-env.sh), with DynamoDB's item operations made
atomic with one another, as they are in DynamoDB.

moto serves requests on threads, and its TransactWriteItems applies its writes one by one;
when a condition fails it restores a copy of the table taken as it began. A write another
request committed meanwhile is then lost, which DynamoDB never does: a test of concurrent
menu saves (`knowledge::dynamodb::concurrent_switches_are_never_lost`) met exactly that under
the load of the whole suite. One lock around moto's DynamoDB item operations gives them
DynamoDB's guarantee; nothing else about moto changes. Arguments are moto_server's.
"""

import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_lock = threading.RLock()


def _atomic(method):
    def run(*args, **kwargs):
        with _lock:
            return method(*args, **kwargs)

    run.__name__ = method.__name__
    return run


for _name in (
    "put_item",
    "get_item",
    "query",
    "scan",
    "update_item",
    "delete_item",
    "transact_write_items",
):
    setattr(DynamoDBBackend, _name, _atomic(getattr(DynamoDBBackend, _name)))

if __name__ == "__main__":
    sys.exit(main())
