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
/// processes by session (`/proc/self/autogroup`). A thread's nice value only ranks it among the
/// threads of its group, and every PostgreSQL backend starts a session, so a group, of its
/// own: on such a kernel only the group's nice value weighs the service against them.
/// `Ok(false)` where the process has no autogroup of its own: no such file, or one that reads
/// empty (the kernel's default group, where a process tree that never started a session stays,
/// as under some containers' init; that group's weight cannot be set). Lowering the value
/// needs `CAP_SYS_NICE`.
pub fn set_autogroup_nice(nice: i32) -> std::io::Result<bool> {
    const AUTOGROUP: &str = "/proc/self/autogroup";
    let current = match std::fs::read_to_string(AUTOGROUP) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if autogroup_nice(&current).is_none() {
        return Ok(false);
    }
    std::fs::write(AUTOGROUP, nice.to_string())?;
    Ok(true)
}

/// The nice value in `/proc/<pid>/autogroup`'s text ("/autogroup-85 nice 0"); `None` when the
/// process is in the kernel's default group (it then prints nothing).
fn autogroup_nice(text: &str) -> Option<i32> {
    let rest = text.trim().strip_prefix("/autogroup-")?;
    rest.rsplit(' ').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    #[test]
    fn the_autogroup_text_gives_the_nice_value_or_none_outside_any_group() {
        assert_eq!(autogroup_nice("/autogroup-85 nice 0\n"), Some(0));
        assert_eq!(autogroup_nice("/autogroup-3 nice -5\n"), Some(-5));
        // A process in the kernel's default group (PID 1's) reads an empty file.
        assert_eq!(autogroup_nice(""), None);
        assert_eq!(autogroup_nice("\n"), None);
    }

    #[test]
    fn the_autogroup_nice_is_written_where_the_process_has_an_autogroup() {
        let now = std::fs::read_to_string("/proc/self/autogroup").ok();
        let Some(nice) = now.as_deref().and_then(autogroup_nice) else {
            // No autogroup of its own (no file, or the default group, as on CI): nothing is
            // written.
            assert!(!set_autogroup_nice(0).expect("no autogroup is no error"));
            assert_eq!(std::fs::read_to_string("/proc/self/autogroup").ok(), now, "unchanged");
            return;
        };
        // Rewrites the current value, so the test session's scheduling is left as it was.
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
        assert_eq!(std::fs::read_to_string("/proc/self/autogroup").ok(), now, "unchanged");
    }
}
