#!/usr/bin/env bash
# The RustSec advisory database for `cargo deny check advisories` (deny.toml).
#
# The database is a git repository on GitHub, which the machines this project is built and
# tested on can't reach (they reach crates.io, PyPI, Debian and npm only), and no registry
# among those publishes it. The project doesn't carry a copy: an operator provides one
# (PLATEFULL_ADVISORY_DB: a checkout of the repository, or an archive written by `refresh`;
# default supply-chain/rustsec-advisory-db.tar.xz, ignored by git), and this script lays it
# out where cargo-deny reads its database:
#
#   scripts/advisory-db.sh install           # test.sh runs this before `cargo deny --offline`;
#                                            # exits 3 when no copy is provided
#   scripts/advisory-db.sh refresh [SOURCE]  # on a machine that reaches GitHub: write the
#                                            # archive from SOURCE (a git URL or checkout;
#                                            # default https://github.com/rustsec/advisory-db)
#
# The copy keeps its snapshot's commit date, so cargo-deny's `maximum-db-staleness`
# (deny.toml) measures the snapshot's age, not when it was unpacked: once it is older than
# that, the advisories check fails and says the database is stale, until it is refreshed.
set -euo pipefail
cd "$(dirname "$0")/.."

archive=${PLATEFULL_ADVISORY_DB:-supply-chain/rustsec-advisory-db.tar.xz}
# cargo-deny 0.20 keeps each database in <db-path>/<last URL segment>-<hash of the URL>;
# this is the directory of deny.toml's db-urls entry (cargo-deny says which it expected
# when it is missing).
db_dir=target/advisory-dbs/advisory-db-3157b0e258782691

fail() { echo "advisory-db.sh: $*" >&2; exit 1; }
command -v git >/dev/null || fail "git is required but not installed"

install() {
  if [ -d "$archive" ]; then
    # A checkout: archive it the way `refresh` does, then install that.
    local checkout=$archive
    archive=target/advisory-db-from-checkout.tar.xz
    refresh "$checkout" >/dev/null
  fi
  if [ ! -f "$archive" ]; then
    echo "advisory-db.sh: no RustSec advisory database provided ($archive is missing; set PLATEFULL_ADVISORY_DB)" >&2
    exit 3
  fi
  local stamp
  stamp=$(sha256sum "$archive" | cut -d' ' -f1)
  if [ -f "$db_dir/.snapshot-sha256" ] && [ "$(cat "$db_dir/.snapshot-sha256")" = "$stamp" ]; then
    return
  fi
  rm -rf "$db_dir"
  mkdir -p "$db_dir"
  tar -xJf "$archive" -C "$db_dir"
  local date commit
  date=$(sed -n 's/^date //p' "$db_dir/SNAPSHOT")
  commit=$(sed -n 's/^commit //p' "$db_dir/SNAPSHOT")
  [ -n "$date" ] && [ -n "$commit" ] || fail "$archive: SNAPSHOT names no commit and date"
  (
    cd "$db_dir"
    export GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date"
    git init -q
    git add -A
    git -c user.name=platefull -c user.email=platefull@localhost \
      commit -q -m "RustSec advisory-db $commit"
    # cargo-deny takes the newer of HEAD's commit date and the HEAD file's mtime.
    touch -d "$date" .git/HEAD
  )
  echo "$stamp" >"$db_dir/.snapshot-sha256"
  echo "==> RustSec advisory database: snapshot of $date (commit ${commit:0:12})"
}

refresh() {
  local source=${1:-https://github.com/rustsec/advisory-db}
  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  git clone -q --depth 1 "$source" "$tmp/db"
  mkdir "$tmp/out"
  git -C "$tmp/db" archive HEAD crates LICENSE.txt | tar -x -C "$tmp/out"
  {
    echo "commit $(git -C "$tmp/db" rev-parse HEAD)"
    echo "date $(git -C "$tmp/db" show -s --format=%cI HEAD)"
  } >"$tmp/out/SNAPSHOT"
  mkdir -p "$(dirname "$archive")"
  tar -C "$tmp/out" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cJf "$archive" .
  echo "==> $archive: $(cat "$tmp/out/SNAPSHOT" | tr '\n' ' ')"
}

case "${1:-}" in
  install) install ;;
  refresh) shift; refresh "$@" ;;
  *) fail "usage: $0 install | refresh [SOURCE]" ;;
esac
