//! The hot loop allocates nothing: a counting global allocator shows that the number of heap
//! allocations of a training call does not grow with the number of epochs or of runs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use initgrid::core::seed::replicate_seed;
use initgrid::core::{Batch, Dataset, SampleOrder, TrainSpec, Trainer};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Only the measuring thread counts: the test harness allocates on its own threads.
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn count() {
    if COUNTING.with(|c| c.get()) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(t: &Trainer, runs: u32) -> usize {
    let seeds: Vec<u64> = (0..runs).map(|r| replicate_seed(1, r)).collect();
    let before = ALLOCS.load(Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    t.run_many(&seeds, |_, _| {});
    COUNTING.with(|c| c.set(false));
    ALLOCS.load(Ordering::SeqCst) - before
}

fn trainer(layout: &str, epochs: u32, bn: bool, order: SampleOrder) -> Trainer {
    let mut s = TrainSpec::new(Dataset::preset("five").unwrap(), layout.parse().unwrap(), 0.3);
    s.max_epochs = epochs;
    s.tol = 0.0; // nothing converges: every run trains every epoch
    s.batch_norm = bn;
    s.sample_order = order;
    if bn {
        s.batch = Batch::Full;
    }
    let mut t = Trainer::new(s).unwrap();
    t.disable_early_stop();
    t
}

#[test]
fn allocations_do_not_grow_with_epochs_or_runs() {
    // One test function: the counter is global, so no other test may run concurrently.
    for (layout, bn, order) in [
        ("relu-sigmoid", false, SampleOrder::Fixed),
        ("tanh-relu-softmax", true, SampleOrder::Shuffled),
        ("relu-sigmoid-sigmoid", false, SampleOrder::Shuffled),
    ] {
        let short = allocations(&trainer(layout, 5, bn, order), 16);
        let long = allocations(&trainer(layout, 500, bn, order), 16);
        assert_eq!(short, long, "{layout}: allocations grow with epochs ({short} vs {long})");
        let few = allocations(&trainer(layout, 20, bn, order), 16);
        let many = allocations(&trainer(layout, 20, bn, order), 160);
        assert_eq!(few, many, "{layout}: allocations grow with runs ({few} vs {many})");
    }
}
