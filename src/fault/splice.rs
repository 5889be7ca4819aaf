//! Zero-copy forwarding for the fast path on Linux: `splice(2)` moves data from one socket
//! into a pipe and from the pipe into the other socket inside the kernel, so bytes never
//! cross into faultline's memory. Used only while no toxic applies to the direction; the pipe
//! is always drained before anything else is written, so switching to toxics keeps order.

#[cfg(target_os = "linux")]
mod imp {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    use tokio::io::Interest;
    use tokio::net::TcpStream;

    /// Bytes moved per splice call.
    const MAX: usize = 1 << 20;

    pub(crate) struct Pipe {
        r: OwnedFd,
        w: OwnedFd,
    }

    impl Pipe {
        pub(crate) fn new() -> io::Result<Pipe> {
            let mut fds = [0; 2];
            // SAFETY: pipe2 writes two descriptors into `fds` on success; we own them after.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: both descriptors were just created and are not owned elsewhere.
            let pipe = unsafe { Pipe { r: OwnedFd::from_raw_fd(fds[0]), w: OwnedFd::from_raw_fd(fds[1]) } };
            // A larger pipe means fewer calls; the default (64 KiB) works too.
            // SAFETY: fcntl on a descriptor we own.
            unsafe { libc::fcntl(pipe.w.as_raw_fd(), libc::F_SETPIPE_SZ, MAX as libc::c_int) };
            Ok(pipe)
        }

        /// Moves what `src` has into the pipe. `Ok(0)` is the end of `src`; `WouldBlock`
        /// means nothing is there yet (tokio's readiness is cleared for us).
        pub(crate) fn fill(&self, src: &TcpStream) -> io::Result<usize> {
            src.try_io(Interest::READABLE, || splice(src.as_raw_fd(), self.w.as_raw_fd()))
        }

        /// Moves up to `n` bytes from the pipe into `dst`.
        pub(crate) fn drain(&self, dst: &TcpStream, n: usize) -> io::Result<usize> {
            dst.try_io(Interest::WRITABLE, || splice_n(self.r.as_raw_fd(), dst.as_raw_fd(), n))
        }
    }

    fn splice(from: i32, to: i32) -> io::Result<usize> {
        splice_n(from, to, MAX)
    }

    fn splice_n(from: i32, to: i32, n: usize) -> io::Result<usize> {
        // SAFETY: plain syscall on descriptors owned by live objects; null offsets mean
        // "current position", as required for sockets and pipes.
        let r = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                n,
                libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
            )
        };
        if r < 0 { Err(io::Error::last_os_error()) } else { Ok(r as usize) }
    }
}

#[cfg(target_os = "linux")]
pub(crate) use imp::Pipe;

/// Elsewhere there is no zero-copy path; the buffered one is used.
#[cfg(not(target_os = "linux"))]
pub(crate) struct Pipe;

#[cfg(not(target_os = "linux"))]
impl Pipe {
    pub(crate) fn new() -> std::io::Result<Pipe> {
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "splice is Linux only"))
    }
    pub(crate) fn fill(&self, _: &tokio::net::TcpStream) -> std::io::Result<usize> {
        unreachable!("never constructed")
    }
    pub(crate) fn drain(&self, _: &tokio::net::TcpStream, _: usize) -> std::io::Result<usize> {
        unreachable!("never constructed")
    }
}
