//! The profile reader (`~/.aws/config` and `~/.aws/credentials`): `ConfigFiles::load` on any
//! two files, then `plan` for every profile it found, never panics. A load error names one of
//! the two files; a plan is for the profile asked (`profile`), starts from a profile the files
//! hold (`base_profile`), and assumes only roles those profiles name; planning twice gives the
//! same plan; every error says something.
//! The input up to its first NUL byte is the config file, the rest the credentials file (no
//! NUL: no credentials file, which reads as empty).
#![no_main]

use libfuzzer_sys::fuzz_target;
use needroleshere::aws_files::profiles::ConfigFiles;
use needroleshere::system::env::Environment;
use needroleshere_fuzz::scratch_file;

fuzz_target!(|data: &[u8]| {
    // `mfa_totp_secret_file` is read while planning: keep the fuzzer off devices and kernel
    // files (/dev/zero never ends, /dev/stdin waits). Relative paths resolve in the working
    // directory, which holds only ordinary files. (The target cannot move to a scratch
    // directory: libFuzzer writes the corpus by relative path.)
    if [&b"/dev"[..], b"/proc", b"/sys"]
        .iter()
        .any(|bad| data.windows(bad.len()).any(|w| w == *bad))
    {
        return;
    }
    let config = scratch_file("config");
    let credentials = scratch_file("credentials");
    let (config_text, credentials_text) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], Some(&data[nul + 1..])),
        None => (data, None),
    };
    std::fs::write(&config, config_text).expect("write the config file");
    match credentials_text {
        Some(text) => std::fs::write(&credentials, text).expect("write the credentials file"),
        None => match std::fs::remove_file(&credentials) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => panic!("remove the credentials file: {e}"),
        },
    }

    let files = match ConfigFiles::load(&config, &credentials) {
        Ok(files) => files,
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.contains(&*config.to_string_lossy())
                    || text.contains(&*credentials.to_string_lossy()),
                "a load error names no file: {text}"
            );
            return;
        }
    };
    let names = files.names();
    let env = Environment::default();
    for name in &names {
        match files.plan(name, &env) {
            Ok(plan) => {
                assert_eq!(&plan.profile, name);
                assert!(names.contains(&plan.base_profile), "{plan:?}");
                for step in &plan.roles {
                    assert!(names.contains(&step.profile), "{plan:?}");
                }
                assert_eq!(
                    files.plan(name, &env).as_ref(),
                    Ok(&plan),
                    "not deterministic"
                );
            }
            Err(e) => assert!(!e.to_string().is_empty(), "{e:?}"),
        }
    }
});
