//! A weight matrix kept twice, because prompt and decode want different kernels on CPU: the
//! dense f32 copy feeds candle's gemm, which runs a prompt batch (many rows) ~2.4× faster than
//! the quantized kernels, and the Q8_0 copy feeds the quantized matrix-vector kernel, which
//! reads a quarter of the bytes per decoded token (decode is bound by memory, not arithmetic).

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Module, Result, Tensor};

/// Batches of at least this many rows go through the dense f32 weights (a prompt always does).
pub const DENSE_MIN_ROWS: usize = 8;

/// `y = x · Wᵀ` for a `(out, in)` weight.
#[derive(Debug, Clone)]
pub struct Linear {
    /// `(out, in)` f32.
    dense: Tensor,
    /// The same weights in Q8_0 (None when `in` is not a multiple of the 32-value block).
    quant: Option<QMatMul>,
}

impl Linear {
    /// From the dense `(out, in)` weights; the Q8_0 copy is made here.
    pub fn new(dense: Tensor) -> Result<Self> {
        let (_, cols) = dense.dims2()?;
        let quant = if cols.is_multiple_of(GgmlDType::Q8_0.block_size()) {
            Some(QMatMul::from_qtensor(QTensor::quantize(
                &dense,
                GgmlDType::Q8_0,
            )?)?)
        } else {
            None
        };
        Ok(Linear { dense, quant })
    }

    /// `x` is `(rows, in)`; the result `(rows, out)`, through the dense weights when `dense`
    /// (or when there is no Q8_0 copy).
    pub fn forward(&self, x: &Tensor, dense: bool) -> Result<Tensor> {
        match &self.quant {
            Some(quant) if !dense => quant.forward(x),
            _ => x.matmul(&self.dense.t()?),
        }
    }
}
