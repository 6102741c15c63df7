//! The priority of the service's threads against everything else on its cores: the HTTP
//! workers above PostgreSQL's backends where they share a box, password hashing below both
//! (`docs/operations.md`, "CPU priority").

/// Sets the calling thread's nice value (on Linux the nice value is per thread). Lowering it
/// below the current value needs `CAP_SYS_NICE` (or a matching `RLIMIT_NICE`).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn set_thread_nice(nice: i32) -> std::io::Result<()> {
    // SAFETY: setpriority takes plain integers and touches no memory of ours; `who = 0` with
    // PRIO_PROCESS names the calling thread on Linux.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

#[cfg(not(target_os = "linux"))]
pub fn set_thread_nice(_nice: i32) -> std::io::Result<()> {
    Err(std::io::Error::other("per-thread priority is only set on Linux"))
}

/// Sets the nice value of the process's scheduling autogroup, where the kernel groups
/// processes by session (`/proc/self/autogroup`; `Ok(false)` where there is none). A thread's
/// nice value only ranks it among the threads of its group, and every PostgreSQL backend
/// starts a session, so a group, of its own: on such a kernel only the group's nice value
/// weighs the service against them. Lowering it needs `CAP_SYS_NICE`.
pub fn set_autogroup_nice(nice: i32) -> std::io::Result<bool> {
    match std::fs::write("/proc/self/autogroup", nice.to_string()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    #[test]
    fn the_autogroup_nice_is_written_where_the_kernel_has_autogroups() {
        // Rewrites the current value ("/autogroup-85 nice 0"), so the test session's
        // scheduling is left as it was.
        let Ok(now) = std::fs::read_to_string("/proc/self/autogroup") else {
            assert!(!set_autogroup_nice(0).expect("no autogroup is no error"));
            return;
        };
        let nice: i32 = now.trim().rsplit(' ').next().expect("nice").parse().expect("number");
        match set_autogroup_nice(nice) {
            Ok(written) => assert!(written),
            // Without CAP_SYS_ADMIN the kernel takes one change a second, and a locked-down
            // /proc takes none: an error for the caller to log, never a panic.
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::PermissionDenied
                        | std::io::ErrorKind::ReadOnlyFilesystem
                ),
                "{e}"
            ),
        }
        assert_eq!(std::fs::read_to_string("/proc/self/autogroup").expect("read"), now, "unchanged");
    }
}
