//! What the fuzz targets share: an allocator that aborts on any single allocation above
//! 256 MiB. libFuzzer's own `-malloc_limit_mb` needs a sanitizer's malloc hooks, which a build
//! without one lacks, and `-rss_limit_mb` misses allocations whose pages are never touched; so
//! an unbounded `Vec::with_capacity(length from the input)` is caught here instead.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;

/// The largest allocation one input may cause.
pub const ALLOCATION_MAX: usize = 256 << 20;

pub struct CappedAllocator;

// SAFETY: every call is forwarded to the system allocator unchanged; the cap only aborts.
unsafe impl GlobalAlloc for CappedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn check(size: usize) {
    if size > ALLOCATION_MAX {
        // Standard error is unbuffered: writing a static message allocates nothing.
        let _ = std::io::stderr()
            .write_all(b"==fuzz== one allocation above 256 MiB: unbounded allocation\n");
        std::process::abort();
    }
}

#[global_allocator]
static ALLOCATOR: CappedAllocator = CappedAllocator;
