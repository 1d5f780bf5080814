//! Checkpoint tensors as plain `f32` arrays keyed by name, and the two file formats they come
//! from: safetensors and PyTorch pickles (`torch.save`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::tensor::{DType, TensorData};
use burn_store::pytorch_reader::{self, PytorchReader};
use safetensors::{Dtype, SafeTensors};

use crate::ModelError;

/// One tensor of a checkpoint, converted to `f32`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// A state dict: tensor name → tensor, sorted by name.
pub type TensorMap = BTreeMap<String, RawTensor>;

impl RawTensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Self { shape, data }
    }

    /// Swaps the two axes of a matrix (Linear `[out, in]` ↔ projection `[in, out]`).
    pub fn transposed(&self) -> RawTensor {
        let (rows, cols) = (self.shape[0], self.shape[1]);
        let mut data = vec![0.0; self.data.len()];
        for r in 0..rows {
            for c in 0..cols {
                data[c * rows + r] = self.data[r * cols + c];
            }
        }
        RawTensor::new(vec![cols, rows], data)
    }

    /// Little-endian bytes, as safetensors stores `F32`.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        self.data.iter().flat_map(|v| v.to_le_bytes()).collect()
    }
}

/// Tensors and the string metadata (`__metadata__`) of a safetensors file.
pub fn read_safetensors(path: &Path) -> Result<(TensorMap, HashMap<String, String>), ModelError> {
    let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
    let bad = |e: safetensors::SafeTensorError| ModelError::format(path, e.to_string());
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(bad)?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let file = SafeTensors::deserialize(&bytes).map_err(bad)?;
    let mut tensors = TensorMap::new();
    for (name, view) in file.iter() {
        let dtype = match view.dtype() {
            Dtype::F32 => DType::F32,
            Dtype::F16 => DType::F16,
            Dtype::BF16 => DType::BF16,
            Dtype::F64 => DType::F64,
            Dtype::I64 => DType::I64,
            Dtype::I32 => DType::I32,
            other => {
                return Err(ModelError::format(
                    path,
                    format!("tensor `{name}` has unsupported dtype {other:?}"),
                ))
            }
        };
        let data = to_f32(view.data().to_vec(), view.shape(), dtype)
            .map_err(|message| ModelError::format(path, format!("tensor `{name}`: {message}")))?;
        tensors.insert(
            name.to_string(),
            RawTensor::new(view.shape().to_vec(), data),
        );
    }
    Ok((tensors, metadata))
}

/// Tensors of a PyTorch pickle (`.pt`, `.pth`, `.bin`), with every dictionary level joined
/// into the name (`state_dict.module.visual.conv1.weight`).
pub fn read_pickle(path: &Path) -> Result<TensorMap, ModelError> {
    let reader = PytorchReader::new(path).map_err(|e| ModelError::format(path, e.to_string()))?;
    let mut tensors = TensorMap::new();
    for (name, tensor) in reader.into_tensors() {
        use pytorch_reader::DType as P;
        let dtype = match tensor.dtype() {
            P::F32 => DType::F32,
            P::F16 => DType::F16,
            P::BF16 => DType::BF16,
            P::F64 => DType::F64,
            P::I64 => DType::I64,
            P::I32 => DType::I32,
            // Buffers such as masks or counters; never a weight of ours, so unreadable dtypes
            // are kept out rather than failing the whole file.
            _ => continue,
        };
        let shape = tensor.shape().to_vec();
        let bytes = tensor.read().map_err(|e| ModelError::io(path, e))?;
        let data = to_f32(bytes, &shape, dtype)
            .map_err(|message| ModelError::format(path, format!("tensor `{name}`: {message}")))?;
        tensors.insert(name, RawTensor::new(shape, data));
    }
    Ok(tensors)
}

/// Converts little-endian (native on every platform we build for) bytes of `dtype` to `f32`.
fn to_f32(bytes: Vec<u8>, shape: &[usize], dtype: DType) -> Result<Vec<f32>, String> {
    let data =
        TensorData::try_from_bytes_vec(bytes, shape.to_vec(), dtype).map_err(|e| e.to_string())?;
    data.convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| format!("{e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_swaps_axes() {
        let t = RawTensor::new(vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let tt = t.transposed();
        assert_eq!(tt.shape, vec![3, 2]);
        assert_eq!(tt.data, vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        assert_eq!(tt.transposed(), t);
    }

    #[test]
    fn half_precision_is_widened() {
        // 1.0 and -2.0 in IEEE half precision.
        let bytes = vec![0x00, 0x3c, 0x00, 0xc0];
        assert_eq!(to_f32(bytes, &[2], DType::F16).unwrap(), vec![1.0, -2.0]);
    }
}
