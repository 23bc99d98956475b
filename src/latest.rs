//! `Latest<T>`: the latest value the data path made (markers.json, a /metrics aggregate, a
//! history view),
//! shared with the HTTP threads. The data path swaps in a new `Arc`; a reader clones the `Arc`
//! it finds, so neither waits for the other longer than a pointer copy. A poisoned lock (a
//! panic elsewhere while holding it) is used as it is: the value inside is always whole.

use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Latest<T>(Arc<Mutex<Arc<T>>>);

// (derive(Clone) would ask T: Clone; the cell is shared, never the value)
impl<T> Clone for Latest<T> {
    fn clone(&self) -> Latest<T> {
        Latest(Arc::clone(&self.0))
    }
}

// (no value in `{:?}`: a snapshot is a whole document)
impl<T> std::fmt::Debug for Latest<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Latest")
    }
}

impl<T> Latest<T> {
    pub fn new(first: T) -> Latest<T> {
        Latest(Arc::new(Mutex::new(Arc::new(first))))
    }

    pub fn get(&self) -> Arc<T> {
        match self.0.lock() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    pub fn set(&self, v: T) {
        let v = Arc::new(v);
        match self.0.lock() {
            Ok(mut g) => *g = v,
            Err(p) => *p.into_inner() = v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_see_the_latest_value_also_after_a_panic() {
        let cell: Latest<u32> = Latest::default();
        let reader = cell.clone();
        assert_eq!(*reader.get(), 0);
        cell.set(7);
        assert_eq!(*reader.get(), 7);
        let poison = cell.clone();
        let _ = std::thread::spawn(move || {
            let _g = poison.0.lock().unwrap();
            panic!("poisons the lock");
        })
        .join();
        cell.set(8);
        assert_eq!(*reader.get(), 8);
    }
}
