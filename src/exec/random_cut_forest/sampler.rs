//! A tree's sample: at most `capacity` points chosen from the stream by a time-decayed
//! reservoir (RCF 1.0's stream sampler). The k-th point offered gets the weight
//! `ln(-ln U) - k·λ` with U uniform in (0, 1); the sample keeps the points of the smallest
//! weights. While it is not full every point is kept; then a point enters only if its weight is
//! below the largest kept weight, whose point it evicts. λ > 0 gives newer points smaller weights,
//! so older points leave first in expectation (KDA: "older records having a higher probability
//! of removal"); λ = 0 is a uniform sample of the whole stream.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A kept point: its weight, its position in the stream (unique, breaks ties), where its
/// coordinates are in [`Sampler::points`].
#[derive(Debug, Clone, Copy)]
pub struct Kept {
    pub weight: f64,
    pub sequence: u64,
    pub slot: u32,
}

impl PartialEq for Kept {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Kept {}
impl PartialOrd for Kept {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Kept {
    /// By weight, then by stream position: the order is total, so the point evicted next does
    /// not depend on how the heap happens to be laid out (a restored heap behaves the same).
    fn cmp(&self, other: &Self) -> Ordering {
        self.weight
            .total_cmp(&other.weight)
            .then(self.sequence.cmp(&other.sequence))
    }
}

/// What offering a point did.
#[derive(Debug, PartialEq)]
pub enum Offer {
    /// Not kept.
    Rejected,
    /// Kept in `slot`; `evicted` is the point it replaced (its coordinates are still in the
    /// slot's place until the caller has removed it from the tree: see [`Sampler::accept`]).
    Accepted { slot: u32, evicted: bool },
}

#[derive(Debug, Clone)]
pub struct Sampler {
    capacity: usize,
    dim: usize,
    heap: BinaryHeap<Kept>,
    /// `capacity` slots of `dim` coordinates.
    points: Vec<f64>,
    free: Vec<u32>,
}

impl Sampler {
    pub fn new(capacity: usize, dim: usize) -> Sampler {
        Sampler {
            capacity,
            dim,
            heap: BinaryHeap::with_capacity(capacity + 1),
            points: vec![0.0; capacity * dim],
            free: (0..capacity as u32).rev().collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn point(&self, slot: u32) -> &[f64] {
        let at = slot as usize * self.dim;
        &self.points[at..at + self.dim]
    }

    /// Decides on a point of weight `weight` (stream position `sequence`), before its
    /// coordinates are stored. On eviction the evicted point's coordinates stay in the returned
    /// slot until [`Sampler::store`] overwrites them, so the caller can delete it from its tree
    /// first.
    pub fn accept(&mut self, weight: f64, sequence: u64) -> Offer {
        let kept = |slot| Kept {
            weight,
            sequence,
            slot,
        };
        if self.heap.len() < self.capacity {
            let slot = self.free.pop().expect("a free slot while not full");
            self.heap.push(kept(slot));
            return Offer::Accepted {
                slot,
                evicted: false,
            };
        }
        match self.heap.peek() {
            Some(top) if weight < top.weight => {
                let old = self.heap.pop().expect("a kept point");
                self.heap.push(kept(old.slot));
                Offer::Accepted {
                    slot: old.slot,
                    evicted: true,
                }
            }
            _ => Offer::Rejected,
        }
    }

    /// Stores the coordinates of the point just accepted into `slot`.
    pub fn store(&mut self, slot: u32, point: &[f64]) {
        let at = slot as usize * self.dim;
        self.points[at..at + self.dim].copy_from_slice(point);
    }

    /// The kept points, in no particular order.
    pub fn kept(&self) -> impl Iterator<Item = &Kept> {
        self.heap.iter()
    }

    /// A sampler holding exactly `kept` (with their coordinates), as [`Sampler::kept`] and
    /// [`Sampler::point`] showed them.
    pub fn from_parts(
        capacity: usize,
        dim: usize,
        kept: Vec<Kept>,
        coordinates: &[f64],
    ) -> Result<Sampler, String> {
        if kept.len() > capacity || coordinates.len() != kept.len() * dim {
            return Err("a sample holds more points than its capacity".into());
        }
        let mut s = Sampler::new(capacity, dim);
        let mut used = vec![false; capacity];
        for (i, k) in kept.iter().enumerate() {
            let slot = k.slot as usize;
            if slot >= capacity || std::mem::replace(&mut used[slot], true) {
                return Err("a sample's slots are not distinct".into());
            }
            s.store(k.slot, &coordinates[i * dim..(i + 1) * dim]);
        }
        s.free = (0..capacity as u32)
            .rev()
            .filter(|slot| !used[*slot as usize])
            .collect();
        s.heap = kept.into_iter().collect();
        Ok(s)
    }
}

/// Two samplers are equal when they keep the same points with the same weights (the heap's
/// layout and the slots may differ).
impl PartialEq for Sampler {
    fn eq(&self, other: &Self) -> bool {
        let points = |s: &Sampler| {
            let mut v: Vec<(u64, u64, Vec<u64>)> = s
                .kept()
                .map(|k| {
                    let coords = s.point(k.slot).iter().map(|x| x.to_bits()).collect();
                    (k.sequence, k.weight.to_bits(), coords)
                })
                .collect();
            v.sort();
            v
        };
        self.len() == other.len() && points(self) == points(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_point_until_full_then_evicts_the_largest_weight() {
        let mut s = Sampler::new(3, 1);
        for (i, w) in [0.5, -1.0, 2.0].into_iter().enumerate() {
            let Offer::Accepted { slot, evicted } = s.accept(w, i as u64) else {
                panic!("not full yet")
            };
            assert!(!evicted);
            s.store(slot, &[i as f64]);
        }
        // Heavier than every kept point: rejected.
        assert_eq!(s.accept(3.0, 3), Offer::Rejected);
        // Lighter than the heaviest (2.0, the point 2.0): it takes that point's slot.
        let Offer::Accepted { slot, evicted } = s.accept(0.0, 4) else {
            panic!("accepted")
        };
        assert!(evicted);
        assert_eq!(s.point(slot), [2.0]);
        s.store(slot, &[4.0]);
        let mut weights: Vec<f64> = s.kept().map(|k| k.weight).collect();
        weights.sort_by(f64::total_cmp);
        assert_eq!(weights, [-1.0, 0.0, 0.5]);
    }

    #[test]
    fn a_sampler_rebuilt_from_its_parts_evicts_the_same_points() {
        let mut a = Sampler::new(4, 2);
        let mut rng = super::super::rng::Rng::seeded(3);
        let offer = |s: &mut Sampler, i: u64, rng: &mut super::super::rng::Rng| {
            let w = rng.unit();
            if let Offer::Accepted { slot, .. } = s.accept(w, i) {
                s.store(slot, &[i as f64, -(i as f64)]);
            }
        };
        for i in 0..10 {
            offer(&mut a, i, &mut rng);
        }
        let kept: Vec<Kept> = a.kept().copied().collect();
        let coords: Vec<f64> = kept.iter().flat_map(|k| a.point(k.slot).to_vec()).collect();
        let mut b = Sampler::from_parts(4, 2, kept, &coords).unwrap();
        let mut rng_b = rng.clone();
        for i in 10..40 {
            offer(&mut a, i, &mut rng);
            offer(&mut b, i, &mut rng_b);
        }
        let points = |s: &Sampler| {
            let mut p: Vec<Vec<f64>> = s.kept().map(|k| s.point(k.slot).to_vec()).collect();
            p.sort_by(|x, y| x[0].total_cmp(&y[0]));
            p
        };
        assert_eq!(points(&a), points(&b));
    }
}
