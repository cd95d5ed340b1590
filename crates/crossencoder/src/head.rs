//! The sequence-classification head BertModel lacks: BERT's pooler (dense + tanh on the
//! [CLS] state) followed by the classifier linear layer, as in transformers'
//! `BertForSequenceClassification`. Only the first label's logit is returned: a reranker
//! orders by one relevance score.

use candle_core::{IndexOp, Tensor};
use candle_nn::{Linear, Module, VarBuilder, linear};

pub(crate) struct ClassificationHead {
    pooler: Linear,
    classifier: Linear,
}

impl ClassificationHead {
    /// `vb` sees bare names (`pooler.dense.*`, `classifier.*`); the number of labels is read
    /// from the classifier's weight, which `num_labels` in config.json may leave implicit.
    pub fn load(
        vb: VarBuilder,
        hidden_size: usize,
        num_labels: usize,
    ) -> candle_core::Result<Self> {
        let pooler = linear(hidden_size, hidden_size, vb.pp("pooler").pp("dense"))?;
        let classifier = linear(hidden_size, num_labels, vb.pp("classifier"))?;
        Ok(ClassificationHead { pooler, classifier })
    }

    /// `sequence_output` is (batch, tokens, hidden); returns the label-0 logits, (batch,).
    pub fn forward(&self, sequence_output: &Tensor) -> candle_core::Result<Tensor> {
        let cls = sequence_output.i((.., 0))?;
        let pooled = self.pooler.forward(&cls)?.tanh()?;
        self.classifier.forward(&pooled)?.i((.., 0))
    }
}
