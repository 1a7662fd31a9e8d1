//! Page bitmaps: one bit per page, 64 pages a word, as hypervisors keep dirty logs.

/// A set of pages as a bitmap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bitmap {
    words: Vec<u64>,
    pages: u64,
}

impl Bitmap {
    /// An empty set over `pages` pages.
    pub fn new(pages: u64) -> Self {
        Self { words: vec![0; pages.div_ceil(64) as usize], pages }
    }

    /// The set of all `pages` pages.
    pub fn full(pages: u64) -> Self {
        let mut bitmap = Self { words: vec![u64::MAX; pages.div_ceil(64) as usize], pages };
        if !pages.is_multiple_of(64)
            && let Some(last) = bitmap.words.last_mut()
        {
            *last = (1 << (pages % 64)) - 1;
        }
        bitmap
    }

    /// How many pages the bitmap covers.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Adds `page`.
    pub fn set(&mut self, page: u64) {
        self.words[(page / 64) as usize] |= 1 << (page % 64);
    }

    /// Removes `page`.
    pub fn clear(&mut self, page: u64) {
        self.words[(page / 64) as usize] &= !(1 << (page % 64));
    }

    /// Whether `page` is in the set.
    pub fn get(&self, page: u64) -> bool {
        self.words[(page / 64) as usize] >> (page % 64) & 1 == 1
    }

    /// How many pages are in the set.
    pub fn count(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// The words, page `p` at bit `p % 64` of word `p / 64`.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// The words, writable.
    pub fn words_mut(&mut self) -> &mut [u64] {
        &mut self.words
    }

    /// Empties the set and returns what it held.
    pub fn take(&mut self) -> Bitmap {
        std::mem::replace(self, Bitmap::new(self.pages))
    }

    /// The number of pages in `self ∪ other`.
    pub fn union_count(&self, other: &Bitmap) -> u64 {
        self.words.iter().zip(&other.words).map(|(a, b)| u64::from((a | b).count_ones())).sum()
    }

    /// The first page at or after `from` in the set.
    pub fn next_set(&self, from: u64) -> Option<u64> {
        if from >= self.pages {
            return None;
        }
        let mut index = (from / 64) as usize;
        let mut word = self.words[index] & (u64::MAX << (from % 64));
        loop {
            if word != 0 {
                return Some(index as u64 * 64 + u64::from(word.trailing_zeros()));
            }
            index += 1;
            word = *self.words.get(index)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_clear_iterate() {
        let mut b = Bitmap::new(130);
        assert!(b.is_empty());
        b.set(0);
        b.set(64);
        b.set(129);
        assert_eq!(b.count(), 3);
        assert_eq!(b.next_set(1), Some(64));
        assert_eq!(b.next_set(65), Some(129));
        assert_eq!(b.next_set(130), None);
        b.clear(64);
        assert_eq!(b.next_set(1), Some(129));
        let full = Bitmap::full(130);
        assert_eq!(full.count(), 130);
        assert_eq!(full.union_count(&b), 130);
        let taken = b.take();
        assert_eq!((taken.count(), b.count()), (2, 0));
    }
}
