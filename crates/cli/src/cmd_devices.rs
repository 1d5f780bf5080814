//! `negclip devices`: the devices this build can run on, under the names `--device` takes.

use negclip_train::device;

/// List the devices this build sees.
#[derive(clap::Args, Debug)]
pub struct DevicesArgs {}

pub fn run(_args: DevicesArgs) -> anyhow::Result<()> {
    let listed = device::list();
    let width = listed.iter().map(|l| l.name.len()).max().unwrap_or(0);
    for entry in &listed {
        println!("{:width$}  {}", entry.name, entry.about);
    }
    println!(
        "\nthis build offers {}; without :N a GPU kind takes its first hardware adapter \
         (the software one where there is none)",
        device::kinds().join(", ")
    );
    if !cfg!(feature = "wgpu") {
        println!("GPUs need a build with --features wgpu, vulkan or cuda (docs/devices.md)");
    }
    Ok(())
}
