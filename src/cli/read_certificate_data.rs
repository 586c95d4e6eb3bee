//! `needroleshere read-certificate-data`: the first certificate of a file or token, as the
//! official helper prints it.

use clap::Args;

use crate::cli::args::DeviceArgs;
use crate::identity::Location;
use crate::system::env::Environment;

#[derive(Debug, Clone, Args)]
pub struct ReadCertificateDataArgs {
    /// Certificate file (PEM or DER), or a pkcs11: URI; the first certificate is read.
    #[arg(long, value_name = "PATH|URI", value_parser = super::args::location_parser())]
    pub certificate: Location,

    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Prints the certificate data as pretty JSON; for a token, lists on stderr every
/// certificate and key it holds, with their URIs.
pub(crate) fn run(args: &ReadCertificateDataArgs, env: &Environment) -> anyhow::Result<()> {
    let device = args.device.resolve(env);
    let data = crate::check::read_certificate_data(&args.certificate, &device)?;
    println!("{}", serde_json::to_string_pretty(&data)?);
    if let Location::Pkcs11(_) = &args.certificate {
        let files = crate::identity::IdentityFiles {
            certificates: vec![args.certificate.clone()],
            intermediates: Vec::new(),
            private_key: args.certificate.clone(),
            pkcs8_password: None,
            device,
        };
        let mut report = crate::check::Report::new("token");
        crate::check::token_objects(&mut report, &files);
        for finding in &report.findings {
            eprintln!("needroleshere: {}", finding.text);
        }
    }
    Ok(())
}
