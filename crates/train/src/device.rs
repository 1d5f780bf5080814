//! The one place where a device is named, listed and chosen.
//!
//! `cpu` (Burn's `flex` backend) is in every build. A build with `--features wgpu` adds
//! `wgpu[:N]` (kernels compiled to WGSL: any Vulkan, Metal or DX12 driver, including Mesa's
//! software lavapipe), `--features vulkan` adds `vulkan[:N]` (CubeCL's own SPIR-V compiler)
//! and `--features cuda` adds `cuda[:N]`. `N` counts the adapters of that kind in the order
//! `negclip devices` lists them. Without `N`, the first hardware adapter is taken, or the
//! software one on a machine with none. The device is always chosen here, never by
//! `Device::default()`, which in a wgpu build prefers wgpu over the CPU.

use burn::tensor::Device;

use crate::error::TrainError;

pub use negclip_model::is_cpu;

/// A device this build can run on, under the name `--device` takes.
pub struct Listed {
    /// `cpu`, `wgpu:0`, `vulkan:1`, `cuda:0`.
    pub name: String,
    /// What it is: the adapter's name, what kernels compile for, whether it is software.
    pub about: String,
    pub device: Device,
}

/// The device kinds this build offers, for help texts and errors.
pub fn kinds() -> Vec<&'static str> {
    let mut kinds = vec!["cpu"];
    if cfg!(feature = "cuda") {
        kinds.push("cuda[:N]");
    }
    if cfg!(feature = "wgpu") {
        kinds.push("wgpu[:N]");
    }
    if cfg!(feature = "vulkan") {
        kinds.push("vulkan[:N]");
    }
    kinds
}

/// Every device this build sees on this machine. Opens each GPU adapter once to ask its name.
pub fn list() -> Vec<Listed> {
    let mut listed = vec![Listed {
        name: "cpu".into(),
        about: format!("Burn flex, {} threads", rayon::current_num_threads()),
        device: Device::flex(),
    }];
    for kind in GPU_KINDS {
        listed.extend(
            adapters(kind)
                .into_iter()
                .enumerate()
                .map(|(index, adapter)| Listed {
                    name: format!("{kind}:{index}"),
                    about: adapter.about,
                    device: adapter.device,
                }),
        );
    }
    listed
}

/// Parse a device name: `cpu`, `wgpu`, `wgpu:1`, `vulkan`, `cuda:0`, …
pub fn select(name: &str) -> Result<Device, TrainError> {
    let (kind, index) = match name.split_once(':') {
        Some((kind, index)) => {
            let index = index
                .parse::<usize>()
                .map_err(|_| error(format!("{name:?}: the part after ':' must be a number")))?;
            (kind, Some(index))
        }
        None => (name, None),
    };
    if matches!(kind, "cpu" | "flex") && index.is_none() {
        return Ok(Device::flex());
    }
    if !GPU_KINDS.contains(&kind) {
        let hint = match kind {
            "wgpu" | "vulkan" | "cuda" => format!(" ({kind} needs a build with --features {kind})"),
            _ => String::new(),
        };
        return Err(error(format!(
            "unknown device {name:?}{hint}; this build offers {}",
            kinds().join(", ")
        )));
    }
    let adapters = adapters(kind);
    let chosen = match index {
        Some(index) => adapters.into_iter().nth(index),
        // Hardware first: lavapipe sits beside a real GPU on many Linux machines.
        None => {
            let hardware = adapters.iter().position(|a| !a.software).unwrap_or(0);
            adapters.into_iter().nth(hardware)
        }
    };
    chosen.map(|adapter| adapter.device).ok_or_else(|| {
        let here: Vec<String> = list().into_iter().map(|l| l.name).collect();
        error(format!(
            "no device {name:?} on this machine; it has {} (`negclip devices` describes them)",
            here.join(", ")
        ))
    })
}

/// The device of the rank with this local rank (its rank among those on this machine): a GPU
/// kind named without `:N` means the local rank's adapter of that kind, so each rank of a
/// node takes its own GPU; a name with `:N`, and `cpu`, are taken as they are.
pub fn select_for_rank(name: &str, local_rank: usize) -> Result<Device, TrainError> {
    if local_rank == 0 || name.contains(':') || matches!(name, "cpu" | "flex") {
        return select(name);
    }
    select(&format!("{name}:{local_rank}"))
}

/// The GPU kinds compiled into this build.
const GPU_KINDS: &[&str] = &[
    #[cfg(feature = "cuda")]
    "cuda",
    #[cfg(feature = "wgpu")]
    "wgpu",
    #[cfg(feature = "vulkan")]
    "vulkan",
];

struct Adapter {
    device: Device,
    about: String,
    software: bool,
}

/// The adapters of one GPU kind, in Burn's enumeration order.
fn adapters(kind: &str) -> Vec<Adapter> {
    let devices: Vec<Device> = match kind {
        #[cfg(feature = "cuda")]
        "cuda" => Device::enumerate(burn::tensor::DeviceType::Cuda).into_vec(),
        #[cfg(feature = "wgpu")]
        "wgpu" => Device::enumerate(burn::tensor::DeviceType::Wgpu).into_vec(),
        #[cfg(feature = "vulkan")]
        "vulkan" => Device::enumerate(burn::tensor::DeviceType::Vulkan).into_vec(),
        _ => Vec::new(),
    };
    devices.into_iter().map(describe).collect()
}

fn describe(device: Device) -> Adapter {
    #[cfg(any(feature = "cuda", feature = "wgpu"))]
    if let Some(identity) = device.identity() {
        // A card has a physical identity (a PCI address); a software rasterizer has none.
        let software = identity.physical.is_none();
        let about = format!(
            "{}, kernels for {}{}",
            identity.name,
            identity.fingerprint,
            if software {
                ", software (runs on the CPU)"
            } else {
                ""
            }
        );
        return Adapter {
            device,
            about,
            software,
        };
    }
    Adapter {
        about: format!("{device:?}"),
        device,
        software: false,
    }
}

fn error(message: String) -> TrainError {
    TrainError::Config {
        path: "--device".into(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_listed_and_chosen() {
        assert!(select("cpu").is_ok());
        let listed = list();
        assert_eq!(listed[0].name, "cpu");
        assert!(listed[0].about.contains("flex"), "{}", listed[0].about);
    }

    #[test]
    fn ranks_take_their_own_adapter_unless_one_is_named() {
        assert!(select_for_rank("cpu", 3).is_ok());
        let err = select_for_rank("tpu", 2).unwrap_err().to_string();
        assert!(err.contains("\"tpu:2\""), "{err}");
        let err = select_for_rank("tpu:0", 2).unwrap_err().to_string();
        assert!(err.contains("\"tpu:0\""), "{err}");
    }

    #[test]
    fn nonsense_and_missing_devices_are_refused_with_what_exists() {
        let err = select("tpu:0").unwrap_err().to_string();
        assert!(err.contains("tpu:0") && err.contains("cpu"), "{err}");
        let err = select("cpu:x").unwrap_err().to_string();
        assert!(err.contains("must be a number"), "{err}");
        if !cfg!(feature = "wgpu") {
            let err = select("wgpu").unwrap_err().to_string();
            assert!(err.contains("--features wgpu"), "{err}");
        }
        if cfg!(feature = "wgpu") {
            let err = select("wgpu:99").unwrap_err().to_string();
            assert!(
                err.contains("no device \"wgpu:99\"") && err.contains("cpu"),
                "{err}"
            );
        }
    }
}
