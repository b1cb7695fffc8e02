//! Host ↔ device: the one way host values become tensors, the one way tensors are read back
//! (asynchronously: synchronous reads panic on WebGPU in a browser), and the one way values read
//! back are compared (the cross-backend check's and the unit tests').

use burn::tensor::{Device, Tensor, TensorData};

use crate::{Error, Result};

/// Host rows as a [rows, cols] tensor. The caller vouches for the length (`rows × cols`).
pub fn matrix(values: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    debug_assert_eq!(values.len(), rows * cols);
    Tensor::<2>::from_data(TensorData::new(values, [rows, cols]), device)
}

/// Values from outside (a page, a file) as rows of `cols`, checked: a whole, non-zero number of
/// rows, every value finite. `what` names a row in the error ("28×28 images", "20-D latents").
/// Returns the tensor and its number of rows.
pub fn checked_rows(values: &[f32], cols: usize, what: &str, device: &Device) -> Result<(Tensor<2>, usize)> {
    if values.is_empty() || cols == 0 || !values.len().is_multiple_of(cols) {
        return Err(Error::Input(format!("{} values is not a whole number of {what}", values.len())));
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err(Error::Input(format!("one of the {what} holds a non-finite value")));
    }
    let rows = values.len() / cols;
    Ok((matrix(values.to_vec(), rows, cols, device), rows))
}

/// Reads a tensor back to the host, asynchronously (the only way that works on WebGPU).
pub async fn read<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    let data = tensor.into_data_async().await.map_err(Error::backend)?;
    data.convert::<f32>().try_into_vec::<f32>().map_err(|e| Error::backend(format!("{e:?}")))
}

/// Relative error of `got` against `reference`, against max(|reference|, 1) so values near 0
/// compare absolutely; infinite if `got` is not finite.
pub fn relative_error(got: f32, reference: f32) -> f32 {
    if got.is_finite() { (got - reference).abs() / reference.abs().max(1.0) } else { f32::INFINITY }
}
