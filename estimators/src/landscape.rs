//! What a sampler sees: a loss over a flat parameter vector, its gradient on a minibatch, and the full-batch loss.

/// Which training points a loss evaluation averages over.
#[derive(Debug, Clone, Copy)]
pub enum Batch<'a> {
    /// Every training point (the full-batch loss L_n).
    Full,
    /// The points with these indices (a minibatch), each in `0..n`.
    Indices(&'a [usize]),
}

/// A loss landscape over flat parameters `w ∈ R^d`: what every sampler, estimator and diagnostic sees.
///
/// The loss is the average negative log-likelihood over the chosen points (for regression, half the
/// squared error summed over outputs; for a potential, K(w) itself), so that the tempered posterior is
/// `exp(−nβ L_n(w))`.
pub trait Landscape: Sync {
    /// Scratch space one chain owns (activations, gradient buffers); made once, reused every step.
    type Workspace: Send;

    /// Number of parameters d.
    fn dim(&self) -> usize;

    /// Number of training points n, or `None` for an analytic landscape without data (no minibatches).
    fn data_size(&self) -> Option<usize>;

    /// A fresh workspace for one chain.
    fn workspace(&self) -> Self::Workspace;

    /// The average loss over `batch` at `w`; writes its gradient into `grad` (length d).
    fn loss_and_grad(
        &self,
        w: &[f64],
        batch: Batch<'_>,
        grad: &mut [f64],
        ws: &mut Self::Workspace,
    ) -> f64;

    /// The average loss over `batch` at `w`.
    fn loss(&self, w: &[f64], batch: Batch<'_>, ws: &mut Self::Workspace) -> f64;

    /// The exact Hessian-vector product `out = ∇²L(w) v` over `batch` (forward-mode tangents, i.e.
    /// dual numbers, carried through the landscape's backward pass). Returns `false`, leaving `out`
    /// untouched, when the landscape has no exact product; callers then difference gradients.
    fn hessian_vector_product(
        &self,
        _w: &[f64],
        _v: &[f64],
        _batch: Batch<'_>,
        _out: &mut [f64],
        _ws: &mut Self::Workspace,
    ) -> bool {
        false
    }
}

/// The full-batch loss at `w`, with a temporary workspace (for one-off evaluations, not for loops).
pub fn full_loss<L: Landscape + ?Sized>(landscape: &L, w: &[f64]) -> f64 {
    let mut ws = landscape.workspace();
    landscape.loss(w, Batch::Full, &mut ws)
}

/// The full-batch gradient at `w` into `grad`, returning the loss (temporary workspace).
pub fn full_loss_and_grad<L: Landscape + ?Sized>(
    landscape: &L,
    w: &[f64],
    grad: &mut [f64],
) -> f64 {
    let mut ws = landscape.workspace();
    landscape.loss_and_grad(w, Batch::Full, grad, &mut ws)
}
