//! `amika-ctl status`.

use amika_api::{paths, Status};

use crate::cli::OutputFormat;
use crate::client::Client;
use crate::error::CtlError;
use crate::output::{self, human_size};

/// Shows the daemon's version, backend and pool.
pub async fn run(client: &Client, format: OutputFormat) -> Result<(), CtlError> {
    let status: Status = client.get_json(paths::STATUS).await?;
    output::show(format, &status, render)
}

fn render(status: &Status) -> String {
    output::fields(&[
        ("version", status.version.clone()),
        ("backend", status.backend.clone()),
        ("pool", format!("{} ({})", status.pool, status.pool_origin)),
        ("size", human_size(status.size_bytes)),
        ("used", human_size(status.used_bytes)),
        ("free", human_size(status.free_bytes)),
        ("state dir", status.state_dir.clone()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reads_as_a_block() {
        let status = Status {
            version: "0.1.0".into(),
            backend: "btrfs".into(),
            pool: "/var/lib/amika/pool".into(),
            pool_origin: "embedded-loop".into(),
            size_bytes: 20 << 30,
            used_bytes: 3 << 29,
            free_bytes: (20 << 30) - (3 << 29),
            state_dir: "/var/lib/amika".into(),
        };
        let expected = "\
version:   0.1.0
backend:   btrfs
pool:      /var/lib/amika/pool (embedded-loop)
size:      20.0 GiB
used:      1.5 GiB
free:      18.5 GiB
state dir: /var/lib/amika
";
        assert_eq!(render(&status), expected);
    }
}
