//! The gateway's memory of recent message ids, bounded to the last few thousand (echoes
//! and redeliveries come back within seconds or minutes). Two filters use it:
//! - the echo filter: WhatsApp echoes every message a linked number sends back to it as
//!   "from me", the same as the owner typing on the phone; the ids of the replies this task
//!   sent keep their echoes from being taken for the owner's (which would pause the bot);
//! - the redelivery filter: a message WhatsApp delivers again after this task queued it
//!   for the bot is not queued twice. The inbound queue is a standard queue, which keeps no
//!   deduplication ids, so this is where a linked number's redeliveries stop.

use std::collections::{HashSet, VecDeque};

#[derive(Default)]
pub(super) struct RecentIds {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl RecentIds {
    const KEEP: usize = 4096;

    /// Remembers an id, forgetting the oldest beyond [`Self::KEEP`].
    pub(super) fn insert(&mut self, id: String) {
        if self.set.insert(id.clone()) {
            self.order.push_back(id);
            if self.order.len() > Self::KEEP {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    /// Was this id remembered (recently)?
    pub(super) fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recent_ids() {
        let mut sent = RecentIds::default();
        for n in 0..=RecentIds::KEEP {
            sent.insert(format!("id{n}"));
        }
        sent.insert("id1".into()); // already held: no reordering
        assert!(!sent.contains("id0"), "the oldest is forgotten");
        assert!(sent.contains("id1"));
        assert!(sent.contains(&format!("id{}", RecentIds::KEEP)));
        assert_eq!(sent.order.len(), RecentIds::KEEP);
    }
}
