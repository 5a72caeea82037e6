//! Unix accounts for `doctor`: the account running it (from `/proc/self`) and a named one (from
//! `/etc/passwd` and `/etc/group`), so that ownership and access are judged for the account the
//! plugin runs as.

use std::os::unix::fs::MetadataExt;

use secrets_broker::backends::diagnosis::Account;

/// The account this process runs as (effective uid and groups).
pub fn current() -> Option<Account> {
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> Vec<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|rest| {
                rest.split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut gids = field("Groups:");
    // Gid: real, effective, saved, file system; the effective one counts.
    if let Some(&egid) = field("Gid:").get(1) {
        gids.insert(0, egid);
    }
    let name = passwd()
        .into_iter()
        .find(|e| e.uid == uid)
        .map(|e| e.name)
        .unwrap_or_else(|| format!("uid {uid}"));
    Some(Account { name, uid, gids })
}

/// The account called `name`, with its primary group and the groups listing it as a member.
pub fn named(name: &str) -> Option<Account> {
    let entry = passwd().into_iter().find(|e| e.name == name)?;
    let mut gids = vec![entry.gid];
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    for line in groups.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if let [_, _, gid, members, ..] = fields.as_slice() {
            if members.split(',').any(|m| m.trim() == name) {
                if let Ok(gid) = gid.parse() {
                    gids.push(gid);
                }
            }
        }
    }
    Some(Account {
        name: entry.name,
        uid: entry.uid,
        gids,
    })
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

fn passwd() -> Vec<PasswdEntry> {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.as_slice() {
                [name, _, uid, gid, ..] => Some(PasswdEntry {
                    name: name.to_string(),
                    uid: uid.parse().ok()?,
                    gid: gid.parse().ok()?,
                }),
                _ => None,
            }
        })
        .collect()
}
