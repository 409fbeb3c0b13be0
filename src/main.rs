//! `rowtime`: a short dispatcher; errors are one message with the program prefix.

use clap::Parser;

fn main() {
    let cli = rowtime::cli::Cli::parse();
    match rowtime::cli::main_with(cli) {
        Ok(()) => {}
        Err(rowtime::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            eprintln!("rowtime: {e}");
            std::process::exit(if e.is_rejection() { 1 } else { 2 });
        }
    }
}
