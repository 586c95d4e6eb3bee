//! `needroleshere read-certificate-data`: the first certificate of a file, as the official
//! helper prints it.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct ReadCertificateDataArgs {
    /// Certificate file (PEM or DER); the first certificate in it is read.
    #[arg(long, value_name = "PATH")]
    pub certificate: PathBuf,
}

/// Prints the certificate data as pretty JSON.
pub(crate) fn run(args: &ReadCertificateDataArgs) -> anyhow::Result<()> {
    let data = crate::check::read_certificate_data(&args.certificate)?;
    println!("{}", serde_json::to_string_pretty(&data)?);
    Ok(())
}
