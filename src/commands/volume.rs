//! `slt volume` and `slt hessian`: basin volumes V(ε) by four estimators, the Hessian spectrum, and where they part.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::SeedableRng;
use serde::Serialize;
use slt_estimators::chains::chain_seed;
use slt_estimators::hessian::{hessian_spectrum, HessianSettings, HessianSpectrum, ProductMethod};
use slt_estimators::ladder::LadderSettings;
use slt_estimators::run::{LadderLocalization, LadderReport, LadderRequest};
use slt_estimators::sampler::ChainRng;
use slt_estimators::volume::{
    hessian_divergence, ladder_volume, laplace_volume, nested_sampling, radial_volume, EpsGrid,
    NestedSettings, Prior, RadialSettings, VolumeAnchor, VolumeCurve, DIVERGENCE_Z,
};
use slt_estimators::{Batch, Landscape, LlcRun};

use super::llc::Progress;
use super::{RunContext, RunOptions};
use crate::config::{
    BasinLoss, HessianConfig, HessianMethod, ValidConfig, VolumeConfig, VolumeMethod,
};
use crate::error::{Context, Error, Result};
use crate::models::{DlnLandscape, FastLandscape, MlpLandscape, NetShape, Problem};
use crate::report::plot::{draw_line_plot, HLine, LinePlot, Series};
use crate::report::{write_atomic, write_csv, HessianSummary, Summary, VolumeSummary};

/// One row of hessian.csv.
#[derive(Serialize)]
struct EigenRow {
    index: usize,
    eigenvalue: f64,
}

fn hessian_settings(h: &HessianConfig, d: usize) -> HessianSettings {
    let mut s = HessianSettings {
        top_k: h.top_k,
        rank_rtol: h.rank_rtol,
        ..HessianSettings::default()
    };
    match h.method {
        HessianMethod::Auto => {}
        HessianMethod::Exact => s.dense_max_dim = d.max(1),
        HessianMethod::Lanczos => s.dense_max_dim = 0,
    }
    s
}

fn hessian_summary(spec: &HessianSpectrum) -> HessianSummary {
    HessianSummary {
        eigenvalues_top: spec.eigenvalues.iter().take(20).copied().collect(),
        rank_estimate: spec.rank_estimate,
        rank_tolerance: spec.tolerance,
        trace: spec.trace,
        trace_err: spec.trace_err,
        method: format!("{:?}", spec.method).to_lowercase(),
        products: match spec.products {
            ProductMethod::Exact => "exact",
            ProductMethod::FiniteDifference => "finite-difference",
        }
        .into(),
    }
}

/// Writes hessian.csv and the spectrum plot (eigenvalues above zero, log scale).
fn write_hessian(spec: &HessianSpectrum, name: &str, opts: &RunOptions) -> Result<()> {
    let rows: Vec<EigenRow> = spec
        .eigenvalues
        .iter()
        .enumerate()
        .map(|(index, &eigenvalue)| EigenRow { index, eigenvalue })
        .collect();
    write_csv(&opts.out.join("hessian.csv"), &rows)?;
    draw_line_plot(
        &LinePlot {
            title: format!(
                "{name}: Hessian eigenvalues at w* (rank {} above {:.1e})",
                spec.rank_estimate, spec.tolerance
            ),
            x_label: "index (descending)".into(),
            y_label: "eigenvalue".into(),
            log_x: false,
            log_y: true,
            faint: vec![],
            bold: vec![Series {
                label: "eigenvalue".into(),
                points: spec
                    .eigenvalues
                    .iter()
                    .enumerate()
                    .map(|(i, &h)| (i as f64, h))
                    .collect(),
            }],
            hlines: vec![HLine {
                label: "rank tolerance".into(),
                y: spec.tolerance,
            }],
        },
        &opts.out.join("hessian.png"),
    )?;
    Ok(())
}

/// `slt hessian`: the spectrum at the measured point → hessian.csv, hessian.png, summary.json
/// (beside the blocks an earlier command wrote for the same point).
pub fn run_hessian(config: &ValidConfig, opts: &RunOptions) -> Result<Summary> {
    let mut ctx = RunContext::new(config, opts, None)?;
    ctx.resume_summary();
    hessian_phase(&mut ctx)?;
    Ok(ctx.summary)
}

/// `slt volume`: the volume phase on a fresh context (beside the blocks an earlier command wrote
/// for the same point).
pub fn run_volume(config: &ValidConfig, opts: &RunOptions) -> Result<Summary> {
    let mut ctx = RunContext::new(config, opts, None)?;
    ctx.resume_summary();
    volume_phase(&mut ctx)?;
    Ok(ctx.summary)
}

/// The Hessian phase: the spectrum at the context's point.
pub fn hessian_phase(ctx: &mut RunContext<'_>) -> Result<()> {
    let (config, opts) = (ctx.config, ctx.opts);
    let start = Instant::now();
    let settings = hessian_settings(
        &config.hessian.clone().unwrap_or_default(),
        ctx.landscape.dim(),
    );
    let spec = hessian_spectrum(
        &ctx.landscape,
        &ctx.center,
        Batch::Full,
        &settings,
        config.seed,
    )?;
    write_hessian(&spec, &config.name, opts)?;
    ctx.summary.hessian = Some(hessian_summary(&spec));
    ctx.summary.timing_s.hessian = Some(start.elapsed().as_secs_f64());
    ctx.write_summary()?;
    opts.note(&format!(
        "hessian: d = {}, rank {} (tolerance {:.1e}), trace {:.4e}, top {:.4e}; results in {}",
        spec.dim,
        spec.rank_estimate,
        spec.tolerance,
        spec.trace,
        spec.eigenvalues.first().copied().unwrap_or(0.0),
        opts.out.display()
    ));
    Ok(())
}

/// The volume phase: ln V(ε) by every method the config names, the Hessian's divergence from the
/// direct estimates, volume.csv, the plots and summary.json.
pub fn volume_phase(ctx: &mut RunContext<'_>) -> Result<()> {
    let (config, opts) = (ctx.config, ctx.opts);
    let center = &ctx.center;
    let vc: VolumeConfig = config.volume.clone().unwrap_or_default();
    let landscape = basin_landscape(&ctx.problem, &ctx.landscape, center, vc.loss, vc.layer)?;
    let prior = vc.prior;
    let grid = EpsGrid::new(vc.eps.from, vc.eps.to, vc.eps.points)?;
    let start = Instant::now();
    let mut warnings = Vec::new();
    // Loss units (nβ = 1): how far the loss falls below L(w*) along the gradient.
    if let Some(drop) = slt_estimators::calibration::gradient_drop(&landscape, center, 1.0) {
        if drop > 0.1 * grid.from {
            warnings.push(format!(
                "w* is not a minimum at the resolution of the smallest threshold: the loss falls about {drop:.2e} below L(w*) along the gradient (smallest ε = {:.2e}); ln V at ε below about {:.1e} counts that lower region, so its slope there is not the basin's (train longer, or on the full batch)",
                grid.from,
                10.0 * drop
            ));
        }
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let wants = |m: VolumeMethod| vc.methods.contains(&m);
    let mut rng = ChainRng::seed_from_u64(chain_seed(config.seed, 0x501));
    let mut direct: Vec<VolumeCurve> = Vec::new();
    if wants(VolumeMethod::Nested) {
        let settings = NestedSettings {
            live_points: vc.live_points,
            runs: vc.runs,
            ..NestedSettings::default()
        };
        opts.note(&format!(
            "volume: nested sampling, {} runs × {} live points",
            vc.runs, vc.live_points
        ));
        direct.push(nested_sampling(
            &landscape, center, &prior, &grid, &settings, &mut rng,
        )?);
    }
    if wants(VolumeMethod::Radial) {
        let settings = RadialSettings {
            directions: vc.directions,
            precondition: vc.precondition,
            ..RadialSettings::default()
        };
        opts.note(&format!(
            "volume: radial Monte Carlo, {} directions",
            vc.directions
        ));
        direct.push(radial_volume(
            &landscape, center, &prior, &grid, &settings, &mut rng,
        )?);
    }
    let mut curves = direct.clone();
    if wants(VolumeMethod::Llc) {
        let anchor = direct
            .first()
            .and_then(|c| VolumeAnchor::from_curve(c, grid.to).ok())
            .unwrap_or_default();
        // The LLC phase's ladder measured the same basin when the basin is the training loss.
        let reuse = ctx.ladder.as_ref().filter(|_| vc.loss == BasinLoss::Train);
        curves.push(ladder_curve(
            ctx, reuse, &landscape, &prior, &grid, &anchor,
        )?);
    }
    let mut spectrum = None;
    let mut divergence = Vec::new();
    if wants(VolumeMethod::Hessian) {
        let settings =
            hessian_settings(&config.hessian.clone().unwrap_or_default(), landscape.dim());
        let spec = hessian_spectrum(&landscape, center, Batch::Full, &settings, config.seed)?;
        let laplace = laplace_volume(&spec, &prior, &grid, None)?;
        divergence = hessian_divergence(&laplace, &direct, DIVERGENCE_Z)?;
        write_hessian(&spec, &config.name, opts)?;
        curves.push(laplace);
        spectrum = Some(spec);
    }
    write_volume_csv(&curves, opts)?;
    let lambda = ctx.problem.theory.map(|k| k.lambda.to_f64()).or(ctx
        .summary
        .theory
        .as_ref()
        .map(|t| t.lambda));
    plot_volume(config, &curves, spectrum.as_ref(), lambda, opts)?;
    let mut block = VolumeSummary {
        prior: prior.describe(),
        eps: grid.values()?,
        log_v: BTreeMap::new(),
        log_v_err: BTreeMap::new(),
        slope: BTreeMap::new(),
        divergence,
        notes: BTreeMap::new(),
        warnings,
    };
    for c in &curves {
        let m = c.method.name().to_string();
        block.log_v.insert(m.clone(), c.log_v.clone());
        block.log_v_err.insert(m.clone(), c.log_v_err.clone());
        block.slope.insert(m.clone(), c.slope.clone());
        block.notes.insert(m, c.notes.clone());
    }
    if !block.divergence.is_empty() {
        let worst = block
            .divergence
            .iter()
            .map(|d| d.gap.abs())
            .fold(0.0, f64::max);
        opts.note(&format!(
            "the Hessian's ln V departs from the direct estimates at {} (threshold, method) pairs; largest gap {worst:.2} nats",
            block.divergence.len()
        ));
    }
    ctx.summary.volume = Some(block);
    ctx.summary.hessian = spectrum.as_ref().map(hessian_summary);
    ctx.summary.timing_s.volume = Some(start.elapsed().as_secs_f64());
    ctx.write_summary()?;
    opts.note(&format!(
        "volume: {:.1} s; results in {}",
        start.elapsed().as_secs_f64(),
        opts.out.display()
    ));
    Ok(())
}

/// The ladder's volume curve: the slopes λ̂ at the ladder's rungs, integrated from `anchor`. The
/// rungs are the LLC phase's (`reuse`) or a ladder run now on the basin's landscape by the same
/// [`LlcRun`] rules ([llc] settings, its ladder or the default factors).
fn ladder_curve<L: Landscape>(
    ctx: &RunContext<'_>,
    reuse: Option<&LadderReport>,
    landscape: &L,
    prior: &Prior,
    grid: &EpsGrid,
    anchor: &VolumeAnchor,
) -> Result<VolumeCurve> {
    let ran;
    let ladder = match reuse {
        Some(l) => l,
        None => {
            let llc = ctx.config.llc.clone().unwrap_or_default();
            let mut request = llc.request(ctx.config.seed);
            request.full_loss_every = 0;
            request.check_step = false;
            request.ladder.get_or_insert_with(|| LadderRequest {
                factors: LadderSettings::default().factors,
                localization: LadderLocalization::Auto,
            });
            ctx.opts.note(&format!(
                "volume: LLC ladder at nβ × {:?}",
                request
                    .ladder
                    .as_ref()
                    .map(|l| &l.factors)
                    .unwrap_or(&vec![])
            ));
            let run = LlcRun::new(landscape, &ctx.center, ctx.problem.n, request);
            let progress = Progress::new(ctx.opts);
            let report = run.finish(run.sample(&progress)?, &progress)?;
            if let Some(e) = report.ladder_error() {
                return Err(Error::from(e.clone()).context("the volume's LLC ladder"));
            }
            ran = report.ladder.context("the volume's LLC ladder ran")?;
            &ran
        }
    };
    let r = &ladder.fit;
    ladder_volume(&r.nbetas, &r.llc_at, &r.llc_err, prior, grid, anchor)
        .context("integrating the ladder's slopes")
}

/// volume.csv: one row per threshold; for each method its ln V, error and slope.
fn write_volume_csv(curves: &[VolumeCurve], opts: &RunOptions) -> Result<()> {
    let Some(first) = curves.first() else {
        return Ok(());
    };
    let mut text = String::from("eps");
    for c in curves {
        let m = c.method.name();
        text += &format!(",{m}_log_v,{m}_log_v_err,{m}_slope");
    }
    text.push('\n');
    for (i, eps) in first.eps.iter().enumerate() {
        text += &format!("{eps:e}");
        for c in curves {
            text += &format!(",{},{},{}", c.log_v[i], c.log_v_err[i], c.slope[i]);
        }
        text.push('\n');
    }
    write_atomic(&opts.out.join("volume.csv"), text.as_bytes())
}

/// volume.png: ln V against ε (log x) for every method; volume_slope.png: the local slopes with λ
/// (where known) and the Hessian's rank/2 as lines.
fn plot_volume(
    config: &ValidConfig,
    curves: &[VolumeCurve],
    spectrum: Option<&HessianSpectrum>,
    lambda: Option<f64>,
    opts: &RunOptions,
) -> Result<()> {
    let series = |f: &dyn Fn(&VolumeCurve, usize) -> f64| -> Vec<Series> {
        curves
            .iter()
            .map(|c| Series {
                label: c.method.name().into(),
                points: c
                    .eps
                    .iter()
                    .enumerate()
                    .map(|(i, &e)| (e, f(c, i)))
                    .collect(),
            })
            .collect()
    };
    draw_line_plot(
        &LinePlot {
            title: format!("{}: ln V(ε), prior mass of {{L − L(w*) < ε}}", config.name),
            x_label: "ε".into(),
            y_label: "ln V".into(),
            log_x: true,
            log_y: false,
            faint: vec![],
            bold: series(&|c, i| c.log_v[i]),
            hlines: vec![],
        },
        &opts.out.join("volume.png"),
    )?;
    let mut hlines = Vec::new();
    if let Some(l) = lambda {
        hlines.push(HLine {
            label: format!("λ = {l:.4}"),
            y: l,
        });
    }
    if let Some(s) = spectrum {
        hlines.push(HLine {
            label: format!("Hessian rank / 2 = {}", s.rank_estimate as f64 / 2.0),
            y: s.rank_estimate as f64 / 2.0,
        });
    }
    draw_line_plot(
        &LinePlot {
            title: format!("{}: local slope d ln V / d ln ε", config.name),
            x_label: "ε".into(),
            y_label: "slope".into(),
            log_x: true,
            log_y: false,
            faint: vec![],
            bold: series(&|c, i| c.slope[i]),
            hlines,
        },
        &opts.out.join("volume_slope.png"),
    )?;
    Ok(())
}

/// A landscape over more parameters than `inner` uses: the loss reads the first `inner.dim()`
/// coordinates (a prefix of the layer-ordered flat vector) and is flat in the rest.
#[derive(Debug, Clone)]
pub struct PrefixLandscape<L> {
    inner: L,
    dim: usize,
}

impl<L: Landscape> Landscape for PrefixLandscape<L> {
    type Workspace = L::Workspace;

    fn dim(&self) -> usize {
        self.dim
    }

    fn data_size(&self) -> Option<usize> {
        self.inner.data_size()
    }

    fn workspace(&self) -> L::Workspace {
        self.inner.workspace()
    }

    fn loss_and_grad(
        &self,
        w: &[f64],
        batch: Batch<'_>,
        grad: &mut [f64],
        ws: &mut L::Workspace,
    ) -> f64 {
        let k = self.inner.dim();
        grad[k..].fill(0.0);
        self.inner.loss_and_grad(&w[..k], batch, &mut grad[..k], ws)
    }

    fn loss(&self, w: &[f64], batch: Batch<'_>, ws: &mut L::Workspace) -> f64 {
        self.inner.loss(&w[..self.inner.dim()], batch, ws)
    }

    fn hessian_vector_product(
        &self,
        w: &[f64],
        v: &[f64],
        batch: Batch<'_>,
        out: &mut [f64],
        ws: &mut L::Workspace,
    ) -> bool {
        let k = self.inner.dim();
        let exact = self
            .inner
            .hessian_vector_product(&w[..k], &v[..k], batch, &mut out[..k], ws);
        if exact {
            out[k..].fill(0.0);
        }
        exact
    }
}

/// The landscape whose excess defines the basin: the training loss (`training`, the problem's), or the behavioural loss
/// ½ mean‖f_k(w; x) − f_k(w*; x)‖² over the training inputs, f_k the network's output (k = all
/// layers) or its layer-k activations (pre-ReLU for an MLP); the later layers' parameters are then
/// flat directions of the basin. For a classifier's output the behavioural loss is the KL divergence
/// mean_x KL(p_{w*}(·|x) ‖ p_w(·|x)) of its predicted class distributions (0 at w*).
pub fn basin_landscape(
    problem: &Problem,
    training: &FastLandscape,
    center: &[f64],
    loss: BasinLoss,
    layer: Option<usize>,
) -> Result<PrefixLandscape<FastLandscape>> {
    let dim = training.dim();
    if loss == BasinLoss::Train {
        return Ok(PrefixLandscape {
            inner: training.clone(),
            dim,
        });
    }
    let data = problem
        .train
        .as_ref()
        .ok_or_else(|| Error::Input("a behavioural loss needs training inputs".into()))?;
    let (widths, mlp, classifier) = match problem.shape.as_ref() {
        Some(NetShape::Dln(w)) => (w.clone(), false, false),
        Some(NetShape::Mlp(w)) => (w.clone(), true, false),
        Some(NetShape::Classifier(w)) => (w.clone(), true, true),
        _ => return Err(Error::Input(
            "volume.loss = \"behavioural\" applies to model.kind = \"dln\", \"mlp\" or \"modadd\""
                .into(),
        )),
    };
    let k = layer.unwrap_or(widths.len() - 1);
    if classifier && k == widths.len() - 1 {
        let inner = FastLandscape::Mlp(kl_landscape(&widths, data, center));
        return Ok(PrefixLandscape { inner, dim });
    }
    let prefix = &widths[..=k];
    let (din, dout) = (prefix[0], prefix[k]);
    // f_k(w*; x) for every training input, layer by layer.
    let mut targets = Vec::with_capacity(data.len() * dout);
    let mut offset_of = vec![0usize];
    for p in prefix.windows(2) {
        let last = *offset_of.last().expect("starts with 0");
        offset_of.push(last + p[0] * p[1] + if mlp { p[1] } else { 0 });
    }
    for x in data.inputs.chunks_exact(din) {
        let mut a = x.to_vec();
        for l in 0..k {
            let (hin, hout) = (prefix[l], prefix[l + 1]);
            let p = &center[offset_of[l]..offset_of[l + 1]];
            let mut z: Vec<f64> = (0..hout)
                .map(|o| {
                    p[o * hin..(o + 1) * hin]
                        .iter()
                        .zip(&a)
                        .map(|(u, v)| u * v)
                        .sum::<f64>()
                })
                .collect();
            if mlp {
                for (zo, b) in z.iter_mut().zip(&p[hin * hout..]) {
                    *zo += b;
                }
                if l + 1 < k {
                    z.iter_mut().for_each(|v| *v = v.max(0.0));
                }
            }
            a = z;
        }
        targets.extend(a);
    }
    let inner = if mlp {
        FastLandscape::Mlp(MlpLandscape::new(prefix, data.inputs.clone(), targets))
    } else {
        FastLandscape::Dln(DlnLandscape::new(prefix, data.inputs.clone(), targets))
    };
    Ok(PrefixLandscape { inner, dim })
}

/// The classifier's behavioural landscape at w*: mean_x KL(p_{w*}(·|x) ‖ p_w(·|x)) over the
/// training inputs, p_w = softmax of the logits: the cross-entropy head against w*'s predicted
/// distributions, less their entropy (0 at w*, positive elsewhere, gradient softmax − p_{w*}).
pub fn kl_landscape(
    widths: &[usize],
    data: &crate::models::Dataset,
    center: &[f64],
) -> MlpLandscape {
    let classes = widths[widths.len() - 1];
    let logits =
        MlpLandscape::classifier(widths, data.inputs.clone(), data.targets.clone()).outputs(center);
    let mut targets = Vec::with_capacity(logits.len());
    for z in logits.chunks_exact(classes) {
        let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = z.iter().map(|v| (v - m).exp()).collect();
        let sum: f64 = e.iter().sum();
        targets.extend(e.iter().map(|v| v / sum));
    }
    MlpLandscape::classifier(widths, data.inputs.clone(), targets)
}
