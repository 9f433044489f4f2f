//! Transparent huge pages for the resolver's large tables.
//!
//! A look-up reads an IMSI slot and then the profile row it names: two
//! dependent loads at random addresses. With 4 KiB pages each also misses the
//! TLB once the tables pass a few megabytes, which roughly doubles its cost;
//! 2 MiB pages keep the whole index within the TLB's reach. Kernels set to
//! `madvise` (the common default) only give huge pages to regions that ask.

/// `n` default values of `T`, in storage advised to use huge pages before
/// its first write.
pub(crate) fn filled<T: Default>(n: usize) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    advise(v.as_ptr() as usize, n * std::mem::size_of::<T>());
    v.extend((0..n).map(|_| T::default()));
    v
}

/// The allocator of the ordinal hash tables: the global one, with large
/// blocks advised to use huge pages before hashbrown first writes them.
#[derive(Clone, Copy, Default)]
pub(crate) struct Huge;

// SAFETY: every block comes from, and goes back to, the global allocator
// unchanged; `advise` only hints at how to back it.
unsafe impl allocator_api2::alloc::Allocator for Huge {
    fn allocate(
        &self,
        layout: std::alloc::Layout,
    ) -> Result<std::ptr::NonNull<[u8]>, allocator_api2::alloc::AllocError> {
        let block = allocator_api2::alloc::Global.allocate(layout)?;
        advise(block.as_ptr() as *mut u8 as usize, block.len());
        Ok(block)
    }

    unsafe fn deallocate(&self, ptr: std::ptr::NonNull<u8>, layout: std::alloc::Layout) {
        // SAFETY: the caller passes a block `allocate` returned for `layout`,
        // which is a block of the global allocator for that layout.
        unsafe { allocator_api2::alloc::Global.deallocate(ptr, layout) }
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
        // SAFETY: a hint about memory this process owns (the Vec's unused
        // capacity); it changes neither the mapping's contents nor its
        // validity, and failure (no THP support) is harmless.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_addr: usize, _len: usize) {}
