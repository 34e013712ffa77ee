//! A vector of slots with a free list: stable indices, O(1) insert and remove.

/// Slots addressed by index; removed slots are reused by later inserts.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<usize>,
    len: usize,
}

#[derive(Debug)]
enum Slot<T> {
    Full(T),
    Empty,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Stores `value` and returns its index.
    pub(crate) fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        match self.free.pop() {
            Some(idx) => {
                self.slots[idx] = Slot::Full(value);
                idx
            }
            None => {
                self.slots.push(Slot::Full(value));
                self.slots.len() - 1
            }
        }
    }

    /// Removes and returns the value at `idx`, if the slot is full.
    pub(crate) fn remove(&mut self, idx: usize) -> Option<T> {
        let slot = self.slots.get_mut(idx)?;
        match std::mem::replace(slot, Slot::Empty) {
            Slot::Full(value) => {
                self.free.push(idx);
                self.len -= 1;
                Some(value)
            }
            Slot::Empty => None,
        }
    }

    pub(crate) fn get(&self, idx: usize) -> Option<&T> {
        match self.slots.get(idx) {
            Some(Slot::Full(value)) => Some(value),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, idx: usize) -> Option<&mut T> {
        match self.slots.get_mut(idx) {
            Some(Slot::Full(value)) => Some(value),
            _ => None,
        }
    }

    /// Number of full slots.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The full slots, in index order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| match s {
            Slot::Full(v) => Some((i, v)),
            Slot::Empty => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Slab;

    #[test]
    fn reuses_removed_slots() {
        let mut slab = Slab::default();
        let a = slab.insert('a');
        let b = slab.insert('b');
        assert_eq!(slab.remove(a), Some('a'));
        assert_eq!(slab.remove(a), None);
        let c = slab.insert('c');
        assert_eq!(c, a);
        assert_eq!(slab.get(b), Some(&'b'));
        assert_eq!(slab.len(), 2);
        assert_eq!(slab.iter().map(|(_, v)| *v).collect::<String>(), "cb");
    }
}
