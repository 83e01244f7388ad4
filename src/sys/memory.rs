//! Giving memory back to the kernel while a process waits: the page-table entries of the
//! loaded ELF objects' read-only segments (madvise MADV_DONTNEED; the page cache keeps the
//! pages, and those touched again fault back in from it), the dead part of the stack, and
//! malloc's free memory (malloc_trim).

use std::ffi::CStr;

/// Pages of the read-only PT_LOAD segments (no PF_W: code, read-only data) of every object
/// loaded in this process (the executable, the dynamic loader, the shared libraries; not the
/// vDSO) are dropped from the process's page tables. Returns how many bytes were advised.
///
/// Safe because those pages are file-backed and never written: the kernel maps a private
/// file page again, with the same content, on the next access. What was written (the RELRO
/// pages, which the loader relocated before making them read-only) sits in writable
/// PT_LOAD segments and is left alone, and an object with text relocations (whose "read-only"
/// segments were written too) is skipped whole.
pub fn drop_readonly_segments() -> usize {
    let mut advised = 0usize;
    // SAFETY: the callback only reads the headers dl_iterate_phdr hands it (valid for the
    // call) and `data` points to `advised`, which outlives the call.
    unsafe {
        libc::dl_iterate_phdr(Some(visit), (&mut advised as *mut usize).cast());
    }
    advised
}

unsafe extern "C" fn visit(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut libc::c_void,
) -> libc::c_int {
    // SAFETY: dl_iterate_phdr passes a valid info for the duration of the callback, and the
    // `data` of `drop_readonly_segments`.
    let (info, advised) = unsafe { (&*info, &mut *data.cast::<usize>()) };
    if info.dlpi_phdr.is_null() || is_vdso(info) {
        return 0;
    }
    // SAFETY: dlpi_phdr points to dlpi_phnum program headers of a loaded object.
    let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum.into()) };
    if has_text_relocations(info.dlpi_addr as usize, headers) {
        return 0;
    }
    let page = rustix::param::page_size();
    for ph in headers {
        if ph.p_type != libc::PT_LOAD || ph.p_flags & libc::PF_W != 0 {
            continue;
        }
        let begin = info.dlpi_addr as usize + ph.p_vaddr as usize;
        // Whole pages inside the segment only: a page shared with a neighbouring segment
        // (possible only at its ends) is kept.
        let start = begin.next_multiple_of(page);
        let end = (begin + ph.p_memsz as usize) / page * page;
        if end <= start {
            continue;
        }
        // SAFETY: [start, end) lies inside a read-only, never-written PT_LOAD segment of a
        // loaded object (see `drop_readonly_segments`): dropping its pages loses nothing, the
        // next access maps the same file content again.
        let ret =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        if ret == 0 {
            *advised += end - start;
        }
    }
    0
}

/// The vDSO is the kernel's mapping, not a file's: left alone.
fn is_vdso(info: &libc::dl_phdr_info) -> bool {
    // SAFETY: getauxval only reads the auxiliary vector.
    let vdso = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as usize;
    if vdso != 0 && info.dlpi_addr as usize == vdso {
        return true;
    }
    if info.dlpi_name.is_null() {
        return false;
    }
    // SAFETY: dlpi_name is a NUL-terminated string owned by the loader.
    let name = unsafe { CStr::from_ptr(info.dlpi_name) };
    name.to_bytes().starts_with(b"linux-vdso")
}

/// Whether the object's dynamic section asks for text relocations (DT_TEXTREL, or
/// DF_TEXTREL in DT_FLAGS): then its read-only segments were written by the loader.
fn has_text_relocations(base: usize, headers: &[libc::Elf64_Phdr]) -> bool {
    const DT_NULL: i64 = 0;
    const DT_TEXTREL: i64 = 22;
    const DT_FLAGS: i64 = 30;
    const DF_TEXTREL: u64 = 0x4;
    /// Elf64_Dyn (libc does not export it).
    #[repr(C)]
    struct Dyn {
        d_tag: i64,
        d_val: u64,
    }
    let Some(dynamic) = headers.iter().find(|ph| ph.p_type == libc::PT_DYNAMIC) else {
        return false;
    };
    let entries = dynamic.p_memsz as usize / std::mem::size_of::<Dyn>();
    let first = (base + dynamic.p_vaddr as usize) as *const Dyn;
    for i in 0..entries {
        // SAFETY: PT_DYNAMIC of a loaded object is mapped and holds `entries` entries.
        let entry = unsafe { &*first.add(i) };
        match entry.d_tag {
            DT_NULL => break,
            DT_TEXTREL => return true,
            DT_FLAGS if entry.d_val & DF_TEXTREL != 0 => return true,
            _ => {}
        }
    }
    false
}

/// The stack below the caller's frame is dropped: pages a deeper call wrote before and nothing
/// reads again (a later call writes its frame before it reads it; the kernel hands it zeroed
/// pages). Only the WINDOW below the caller's frame, less one page for the red zone and the
/// call itself: the kernel keeps the stack guard gap (1 MiB by default) free of other
/// mappings below the stack, and madvise skips what is not mapped in the range.
#[inline(never)]
pub fn drop_stack_below_caller() {
    const WINDOW: usize = 256 << 10;
    let marker = 0u8;
    let here = std::hint::black_box(&marker) as *const u8 as usize;
    let page = rustix::param::page_size();
    let end = (here / page).saturating_sub(1) * page;
    let start = end.saturating_sub(WINDOW);
    if end <= start {
        return;
    }
    // SAFETY: [start, end) is below this function's own frame on the main thread's stack (and
    // in the guard gap under it, where nothing is mapped): no live frame or object is there,
    // and what is not mapped is skipped (ENOMEM, ignored).
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
    }
}

/// Returns malloc's free memory to the kernel: the top of the heap, and the whole free pages
/// inside it (glibc's malloc_trim).
pub fn trim_heap() {
    // SAFETY: malloc_trim only releases memory malloc holds as free.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pages come back on their own: code and read-only data still work after the drop,
    /// and the process's RSS went down by about what was advised.
    #[test]
    fn dropped_pages_fault_back_in() {
        static TABLE: [u64; 4096] = {
            let mut t = [0u64; 4096];
            let mut i = 0;
            while i < 4096 {
                t[i] = (i as u64) * 2654435761;
                i += 1;
            }
            t
        };
        let before: u64 = TABLE.iter().fold(0, |a, v| a.wrapping_add(*v));
        let advised = drop_readonly_segments();
        assert!(advised > 0);
        let after: u64 = TABLE.iter().fold(0, |a, v| a.wrapping_add(*v));
        assert_eq!(before, after);
        trim_heap();
        drop_stack_below_caller();
        let v: Vec<u8> = vec![7; 100_000];
        assert_eq!(v.iter().map(|b| *b as usize).sum::<usize>(), 700_000);
    }
}
