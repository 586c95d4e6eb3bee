//! `needroleshere unbind NAME`: removes a binding's files through [`ConfigDir::remove`];
//! succeeds when they are already gone.
//!
//! [`ConfigDir::remove`]: crate::binding::ConfigDir::remove

use clap::Args;

use super::args::{ConfigDirArgs, parse_binding_name};
use crate::binding::BindingName;
use crate::system::env::Environment;

#[derive(Debug, Clone, Args)]
pub struct UnbindArgs {
    #[arg(value_name = "NAME", value_parser = parse_binding_name)]
    pub name: BindingName,

    #[command(flatten)]
    pub dir: ConfigDirArgs,
}

/// Removes the binding and says whether there was one.
pub(crate) fn run(args: &UnbindArgs, env: &Environment) -> anyhow::Result<()> {
    let dir = args.dir.resolve(env)?;
    let name = &args.name;
    if dir.remove(name)? {
        eprintln!("needroleshere: unbound {name}");
    } else {
        eprintln!("needroleshere: {name} was not bound");
    }
    Ok(())
}
