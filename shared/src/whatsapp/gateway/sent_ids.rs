//! The echo filter: WhatsApp echoes every message a linked number sends back to it as
//! "from me", the same as the owner typing on the phone. The gateway remembers the ids of
//! the replies it sent so their echoes aren't taken for the owner's (which would pause the
//! bot in that chat). Bounded: the last few thousand ids (echoes come back within seconds).

use std::collections::{HashSet, VecDeque};

#[derive(Default)]
pub(super) struct SentIds {
    order: VecDeque<String>,
    set: HashSet<String>,
}

impl SentIds {
    const KEEP: usize = 4096;

    /// Remembers an id this task sent, forgetting the oldest beyond [`Self::KEEP`].
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

    /// Did this task send the message with this id (recently)?
    pub(super) fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recent_ids() {
        let mut sent = SentIds::default();
        for n in 0..=SentIds::KEEP {
            sent.insert(format!("id{n}"));
        }
        sent.insert("id1".into()); // already held: no reordering
        assert!(!sent.contains("id0"), "the oldest is forgotten");
        assert!(sent.contains("id1"));
        assert!(sent.contains(&format!("id{}", SentIds::KEEP)));
        assert_eq!(sent.order.len(), SentIds::KEEP);
    }
}
