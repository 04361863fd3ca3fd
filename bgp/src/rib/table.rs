//! The Loc-RIB storage: destinations in a slab indexed by a compact
//! [`RouteId`], found by key through a hash table of ids.
//!
//! Each destination holds every path to it, one per source (so the per-peer
//! Adj-RIB-In is the set of paths tagged with that peer, the usual design
//! of BIRD and GoBGP), the best path first, and a count of the per-peer
//! Adj-RIB-Out and pending sets that refer to it. A destination is freed
//! when it has no path and no such reference, so a `RouteId` held by a
//! peer's pending set always names the key it was queued for.
//!
//! Memory: the index stores 4-byte ids (the key lives once, in the slab),
//! and a destination with a single path keeps it inline.

use super::decision::Path;
use super::key::RouteKey;
use hashbrown::{DefaultHashBuilder, HashTable};
use smallvec::SmallVec;
use std::hash::BuildHasher;

pub(crate) type RouteId = u32;

/// Slab size above which an emptied table frees its memory.
const SHRINK_ABOVE: usize = 4096;

#[derive(Debug)]
pub(crate) struct Dest {
    pub key: RouteKey,
    /// All paths; `paths[0]` is the best one (when any).
    pub paths: SmallVec<[Path; 1]>,
    /// Adj-RIB-Out and pending-set memberships across peers.
    pub refs: u32,
}

impl Dest {
    pub fn best(&self) -> Option<&Path> {
        self.paths.first()
    }
}

#[derive(Default)]
pub(crate) struct Table {
    dests: Vec<Option<Dest>>,
    free: Vec<RouteId>,
    index: HashTable<RouteId>,
    hasher: DefaultHashBuilder,
}

impl Table {
    pub fn get(&self, id: RouteId) -> Option<&Dest> {
        self.dests.get(id as usize).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, id: RouteId) -> Option<&mut Dest> {
        self.dests.get_mut(id as usize).and_then(Option::as_mut)
    }

    pub fn find(&self, key: &RouteKey) -> Option<RouteId> {
        let hash = self.hasher.hash_one(key);
        let dests = &self.dests;
        self.index
            .find(hash, |&id| key_of(dests, id) == Some(key))
            .copied()
    }

    /// The id of `key`, creating an empty destination when it is new;
    /// `None` only when 2^32 destinations exist.
    pub fn find_or_insert(&mut self, key: RouteKey) -> Option<RouteId> {
        if let Some(id) = self.find(&key) {
            return Some(id);
        }
        let hash = self.hasher.hash_one(&key);
        let dest = Some(Dest {
            key,
            paths: SmallVec::new(),
            refs: 0,
        });
        let id = match self.free.pop() {
            Some(id) => {
                *self.dests.get_mut(id as usize)? = dest;
                id
            }
            None => {
                let id = RouteId::try_from(self.dests.len()).ok()?;
                self.dests.push(dest);
                id
            }
        };
        let (dests, hasher) = (&self.dests, &self.hasher);
        self.index.insert_unique(hash, id, |&i| {
            key_of(dests, i).map_or(0, |k| hasher.hash_one(k))
        });
        Some(id)
    }

    /// Free `id` if nothing refers to it any more.
    pub fn release(&mut self, id: RouteId) {
        let Some(dest) = self.get(id) else { return };
        if !dest.paths.is_empty() || dest.refs > 0 {
            return;
        }
        let hash = self.hasher.hash_one(&dest.key);
        if let Ok(entry) = self.index.find_entry(hash, |&i| i == id) {
            entry.remove();
        }
        if let Some(slot) = self.dests.get_mut(id as usize) {
            *slot = None;
            self.free.push(id);
        }
        if self.index.is_empty() && self.dests.len() > SHRINK_ABOVE {
            // The table emptied (e.g. the only route reflector went away):
            // give the memory back instead of keeping the high-water mark.
            *self = Table {
                hasher: self.hasher.clone(),
                ..Table::default()
            };
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (RouteId, &Dest)> + '_ {
        self.dests
            .iter()
            .enumerate()
            .filter_map(|(i, d)| Some((RouteId::try_from(i).ok()?, d.as_ref()?)))
    }

    pub fn ids(&self) -> Vec<RouteId> {
        self.iter().map(|(id, _)| id).collect()
    }

    /// Number of destinations (with or without paths).
    pub fn len(&self) -> usize {
        self.index.len()
    }
}

fn key_of(dests: &[Option<Dest>], id: RouteId) -> Option<&RouteKey> {
    dests
        .get(id as usize)
        .and_then(Option::as_ref)
        .map(|d| &d.key)
}
