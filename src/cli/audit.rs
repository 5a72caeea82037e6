//! `secrets-broker audit verify FILE...`: checks the hash chain of audit log files (oldest first)
//! and says where it breaks.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use secrets_broker::server::audit;

/// `audit`'s subcommands.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check that no line of the audit log was removed, reordered or edited (exit 0 = intact,
    /// 1 = broken or unreadable). Give rotated files oldest first: audit.log.2 audit.log.1 audit.log.
    Verify {
        /// The files, oldest first.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

/// Runs `audit …`; prints the verdict on stdout (problems on stderr).
pub fn run(args: AuditArgs) -> ExitCode {
    match args.command {
        AuditCommand::Verify { files } => match audit::verify(&files) {
            Ok(v) => {
                let start = if v.first_seq == 1 {
                    "from the start of the chain".to_string()
                } else {
                    format!(
                        "from sequence {} (continuing a file not given; pass older files first to check that link)",
                        v.first_seq
                    )
                };
                println!(
                    "intact: {} lines {start}; last hash {} (keep it elsewhere to detect a later cut of the end)",
                    v.lines, v.last_hash
                );
                ExitCode::SUCCESS
            }
            Err(broken) => {
                eprintln!("broken: {broken}");
                ExitCode::FAILURE
            }
        },
    }
}
