//! How many threads llama.cpp should use by default: one per physical core.
//!
//! Hyper-threads share a core's vector units, and oversubscribing cores slows generation sharply,
//! so logical CPUs are the wrong default.

use std::collections::HashSet;

/// Physical cores available to this process (at least 1).
pub fn physical_cores() -> u32 {
    let logical = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let physical = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|cpuinfo| count_physical_cores(&cpuinfo))
        .unwrap_or(logical);
    // A CPU affinity mask or cgroup limit can allow fewer CPUs than the machine has cores.
    physical.min(logical).max(1)
}

/// Distinct (physical id, core id) pairs in a `/proc/cpuinfo` text, when it lists them.
fn count_physical_cores(cpuinfo: &str) -> Option<u32> {
    let mut cores = HashSet::new();
    for block in cpuinfo.split("\n\n") {
        let field = |name: &str| {
            block.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == name).then(|| value.trim().to_owned())
            })
        };
        if let Some(core) = field("core id") {
            cores.insert((field("physical id").unwrap_or_default(), core));
        }
    }
    (!cores.is_empty()).then_some(cores.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyperthread_siblings_count_once() {
        let cpuinfo = "processor : 0\nphysical id : 0\ncore id : 0\n\n\
                       processor : 1\nphysical id : 0\ncore id : 0\n\n\
                       processor : 2\nphysical id : 0\ncore id : 1\n\n\
                       processor : 3\nphysical id : 0\ncore id : 1\n";
        assert_eq!(count_physical_cores(cpuinfo), Some(2));
    }

    #[test]
    fn same_core_id_on_two_sockets_counts_twice() {
        let cpuinfo = "physical id : 0\ncore id : 0\n\nphysical id : 1\ncore id : 0\n";
        assert_eq!(count_physical_cores(cpuinfo), Some(2));
    }

    #[test]
    fn cpuinfo_without_core_ids_gives_no_answer() {
        assert_eq!(count_physical_cores("processor : 0\nmodel name : ARM\n"), None);
        assert!(physical_cores() >= 1);
    }
}
