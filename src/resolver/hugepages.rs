//! Transparent huge pages for the resolver's large tables.
//!
//! A look-up reads an IMSI slot and then the profile row it names: two
//! dependent loads at random addresses. With 4 KiB pages each also misses the
//! TLB once the tables pass a few megabytes, which roughly doubles its cost;
//! 2 MiB pages keep the whole index within the TLB's reach. Kernels set to
//! `madvise` (the common default) only give huge pages to regions that ask.
//!
//! Large blocks are mapped from the kernel directly rather than taken from
//! the process allocator: a table that grows gives its old block straight
//! back, whatever the allocator's policy for returning memory, so the
//! index's resident size is the index.

use allocator_api2::alloc::{AllocError, Allocator, Global};
use std::alloc::Layout;
use std::ptr::NonNull;

/// Blocks from this size up are mapped (and from 2 MiB up advised to use
/// huge pages). Lower than one huge page so that the ordinal tables of a
/// mid-sized inventory, which grow by doubling, also return what they
/// outgrow.
const LARGE: usize = 256 << 10;

/// `n` default values of `T`, in storage advised to use huge pages before
/// its first write.
pub(crate) fn filled<T: Default>(n: usize) -> HugeVec<T> {
    let mut v = HugeVec::with_capacity_in(n, Huge);
    v.extend((0..n).map(|_| T::default()));
    v
}

pub(crate) type HugeVec<T> = allocator_api2::vec::Vec<T, Huge>;

/// The allocator of the resolver's large tables: large blocks mapped from
/// the kernel with huge pages advised, small ones from the global allocator.
#[derive(Clone, Copy, Default)]
pub(crate) struct Huge;

// SAFETY: a block of `LARGE` octets or more is a fresh private anonymous
// mapping of at least that size, page-aligned (enough for any Rust layout up
// to a page) and unmapped once on deallocation with the same length; smaller
// ones come from, and go back to, the global allocator unchanged.
unsafe impl Allocator for Huge {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if mapped(layout) {
            map(layout.size())
        } else {
            Global.allocate(layout)
        }
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if mapped(layout) {
            unmap(ptr, layout.size())
        } else {
            // SAFETY: `allocate` took this block from the global allocator
            // for this very layout.
            unsafe { Global.deallocate(ptr, layout) }
        }
    }
}

/// Whether a block of `layout` is a mapping of its own (a page's alignment
/// is all a mapping promises).
fn mapped(layout: Layout) -> bool {
    layout.size() >= LARGE && layout.align() <= 4096
}

#[cfg(target_os = "linux")]
fn map(len: usize) -> Result<NonNull<[u8]>, AllocError> {
    // SAFETY: asks for a new private anonymous mapping; no existing memory
    // is touched, and failure is reported as MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(AllocError);
    }
    advise(p as usize, len);
    let p = NonNull::new(p as *mut u8).ok_or(AllocError)?;
    Ok(NonNull::slice_from_raw_parts(p, len))
}

#[cfg(target_os = "linux")]
fn unmap(ptr: NonNull<u8>, len: usize) {
    // SAFETY: `ptr` and `len` are those of a mapping `map` made, which the
    // caller no longer uses (the allocator contract).
    unsafe {
        libc::munmap(ptr.as_ptr() as *mut libc::c_void, len);
    }
}

#[cfg(not(target_os = "linux"))]
fn map(len: usize) -> Result<NonNull<[u8]>, AllocError> {
    Global.allocate(Layout::from_size_align(len, 4096).map_err(|_| AllocError)?)
}

#[cfg(not(target_os = "linux"))]
fn unmap(ptr: NonNull<u8>, len: usize) {
    if let Ok(layout) = Layout::from_size_align(len, 4096) {
        // SAFETY: `map` took this block from the global allocator with this layout.
        unsafe { Global.deallocate(ptr, layout) }
    }
}

#[cfg(target_os = "linux")]
fn advise(addr: usize, len: usize) {
    const PAGE: usize = 4096;
    // Only worthwhile past one huge page; madvise wants page-aligned bounds.
    if len < 2 << 20 {
        return;
    }
    let start = addr.next_multiple_of(PAGE);
    let end = (addr + len) & !(PAGE - 1);
    if end > start {
        // SAFETY: a hint about a mapping this process just made; it changes
        // neither the mapping's contents nor its validity, and failure (no
        // THP support) is harmless.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_addr: usize, _len: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_and_small_blocks_hold_what_is_written() {
        // 8 MiB: a mapping of its own; 800 octets: the global allocator.
        for n in [1 << 20, 100] {
            let mut v: HugeVec<u64> = filled(n);
            assert!(v.iter().all(|&x| x == 0));
            for (i, x) in v.iter_mut().enumerate() {
                *x = i as u64 * 3;
            }
            // Growing moves it into a new block and frees the old one.
            v.push(7);
            assert_eq!((v[n - 1], v[n], v.len()), ((n as u64 - 1) * 3, 7, n + 1));
        }
    }
}
