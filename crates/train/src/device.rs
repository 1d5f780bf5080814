//! The one place where a device is chosen. CPU (Burn's `flex` backend) always; CUDA and
//! wgpu/Vulkan when the binary is built with `--features cuda` or `--features wgpu`.

use burn::tensor::Device;

use crate::error::TrainError;

/// Device names this build accepts, for help texts and errors.
pub fn available() -> Vec<&'static str> {
    let mut names = vec!["cpu"];
    if cfg!(feature = "cuda") {
        names.push("cuda[:N]");
    }
    if cfg!(feature = "wgpu") {
        names.extend(["wgpu", "vulkan"]);
    }
    names
}

/// Parse a device name: `cpu`, `cuda`, `cuda:1`, `wgpu`, `vulkan`.
pub fn select(name: &str) -> Result<Device, TrainError> {
    let (kind, index) = match name.split_once(':') {
        Some((kind, index)) => {
            let index = index.parse::<usize>().map_err(|_| unknown(name))?;
            (kind, Some(index))
        }
        None => (name, None),
    };
    match (kind, index) {
        ("cpu" | "flex", None) => Ok(Device::flex()),
        #[cfg(feature = "cuda")]
        ("cuda", index) => Ok(Device::cuda(index.unwrap_or(0))),
        #[cfg(feature = "wgpu")]
        ("wgpu", None) => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(feature = "wgpu")]
        ("vulkan", None) => Ok(Device::vulkan(burn::tensor::DeviceKind::DefaultDevice)),
        _ => Err(unknown(name)),
    }
}

fn unknown(name: &str) -> TrainError {
    TrainError::Config {
        path: "--device".into(),
        message: format!(
            "unknown or unavailable device {name:?}; this build offers: {} (CUDA needs --features cuda, wgpu/Vulkan --features wgpu)",
            available().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_there_and_nonsense_is_refused() {
        assert!(select("cpu").is_ok());
        let err = select("tpu:0").unwrap_err().to_string();
        assert!(err.contains("tpu:0") && err.contains("cpu"), "{err}");
    }
}
