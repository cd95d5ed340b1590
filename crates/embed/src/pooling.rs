//! Mean pooling over real tokens and L2 normalisation: the two steps sentence-transformers
//! applies after BERT (its `1_Pooling` and `Normalize` modules). Padding positions must not
//! count, or a text's vector would depend on the longest text in its batch.

use candle_core::{D, DType, Tensor};

/// `hidden` is `[batch, seq, dim]`, `mask` is `[batch, seq]` (1 for tokens, 0 for padding).
/// Returns `[batch, dim]`: the mean of the token vectors, scaled to unit length.
pub(crate) fn mean_pool_normalised(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let mask = mask.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?;
    let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
    // sentence-transformers clamps the token count at 1e-9; every row has at least [CLS][SEP].
    let counts = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
    let mean = summed.broadcast_div(&counts)?;
    // torch.nn.functional.normalize: x / max(||x||, 1e-12).
    let norms = mean
        .sqr()?
        .sum_keepdim(1)?
        .sqrt()?
        .clamp(1e-12f32, f32::MAX)?;
    mean.broadcast_div(&norms)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn padding_positions_do_not_count_and_rows_have_unit_length() {
        let hidden = Tensor::new(
            &[
                [[3.0f32, 0.0], [1.0, 4.0], [100.0, 100.0]],
                [[0.0, 2.0], [0.0, 2.0], [0.0, 2.0]],
            ],
            &Device::Cpu,
        )
        .unwrap();
        let mask = Tensor::new(&[[1u32, 1, 0], [1, 1, 1]], &Device::Cpu).unwrap();
        let out = mean_pool_normalised(&hidden, &mask)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        // Row 0: mean of (3,0) and (1,4) = (2,2) → (0.7071, 0.7071); the padded (100,100) is ignored.
        assert!(
            (out[0][0] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6,
            "{out:?}"
        );
        assert!(
            (out[0][1] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6,
            "{out:?}"
        );
        assert!(
            (out[1][0]).abs() < 1e-6 && (out[1][1] - 1.0).abs() < 1e-6,
            "{out:?}"
        );
    }
}
