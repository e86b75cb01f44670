//! The `slt` command line: parses arguments, runs a command, maps errors to exit codes (2: bad input).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use slt::commands::{run_all, run_llc, run_train, theory_text, RunOptions};
use slt::config::{ConfigError, DeviceChoice, ValidConfig};
use slt::error::{Error, Result};

/// Singular learning theory for small networks: local learning coefficients, from one config file.
#[derive(Parser, Debug)]
#[command(name = "slt", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Arguments every command shares.
#[derive(clap::Args, Debug)]
struct Common {
    /// The run's TOML config.
    config: PathBuf,
    /// Results folder (default results/<name>/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress bars or notes.
    #[arg(long)]
    quiet: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train (if the config has [train]), then every analysis the config asks for.
    Run(Common),
    /// Train only: checkpoints, train_log.csv, train_loss.png.
    Train(Common),
    /// Estimate the LLC at the trained model (or the reference point when there is no [train]).
    Llc(Common),
    /// Validate a run config or a sweep file without running anything: exit 0 and "ok: FILE (what it
    /// is)", or exit 2 and what is wrong, naming the key.
    ///
    /// A sweep file (one with base, [axes], [zip] or [set]) is checked with every point of its grid.
    Check {
        /// A run config or a sweep file (TOML).
        file: PathBuf,
    },
    /// Print the known λ and multiplicity of the config's model.
    Theory {
        /// The run's TOML config.
        config: PathBuf,
    },
    /// Basin volumes V(ε) by nested sampling, radial Monte Carlo, the LLC ladder and the Hessian, side
    /// by side: volume.csv, volume.png, volume_slope.png, and where the Hessian departs.
    Volume(Common),
    /// The Hessian spectrum at the measured point: hessian.csv, hessian.png, rank and trace.
    Hessian(Common),
    /// λ̂ and MALA acceptance over a grid of step size × nβ around the auto choice, as a heatmap.
    Calibrate(Common),
    /// Run a sweep file: one run folder per point of a grid over config keys, and sweep.csv.
    ///
    /// Finished points (summary.json present) are skipped, so a killed sweep resumes where it
    /// stopped. With a cluster job array, `--shard $SLURM_ARRAY_TASK_ID/N` (array 0..N-1) runs every
    /// N-th point; then `slt sweep FILE --merge` gathers the shards' rows into sweep.csv.
    Sweep {
        /// The sweep file (TOML: base, [axes], [zip], [set]).
        file: PathBuf,
        /// Results folder (default results/<name>/, name from the sweep file or its stem).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Points run at once.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Run only shard I of N (0-based): points I, I+N, I+2N, …; writes sweep-shard-I-of-N.csv.
        #[arg(long, value_name = "I/N", conflicts_with = "merge")]
        shard: Option<slt::sweep::Shard>,
        /// Run nothing: gather the shards' CSVs and the finished point folders into sweep.csv.
        #[arg(long)]
        merge: bool,
        /// No progress bar or notes.
        #[arg(long)]
        quiet: bool,
    },
    /// Draw the standard figures of a results folder (PNG + SVG): a run's loss curve; a sweep's λ̂
    /// and loss over training (llc.checkpoint axis), heatmap (two axes) or line plot (one axis).
    Plot {
        /// A run folder (with train_log.csv) or a sweep folder (with sweep.csv).
        dir: PathBuf,
        /// Plot against this axis (a dotted key of the sweep).
        #[arg(long)]
        x: Option<String>,
        /// The sweep.csv column to plot (default llc.mean, with ± 2 standard errors).
        #[arg(long)]
        y: Option<String>,
    },
    /// SGLD throughput on the standard workloads (toy model, small MLP, wide MLP), with the ratio to
    /// devinterp when its results (scripts/peer/run.sh OUTDIR) are given.
    Bench {
        /// Folder of the peer's JSON results, measured in the same sitting.
        #[arg(long)]
        peer: Option<PathBuf>,
        /// Thread counts to run (comma-separated; 0: one per core).
        #[arg(long, value_delimiter = ',', default_values_t = [1usize, 0])]
        threads: Vec<usize>,
        /// Results folder (bench.csv and one run folder per row).
        #[arg(long, default_value = "results/bench")]
        out: PathBuf,
        /// No progress lines.
        #[arg(long)]
        quiet: bool,
    },
    /// Chain-steps/s of many chains of a large MLP: the stacked landscape on a burn device
    /// (ndarray, wgpu) and the CPU fast path (f32, one chain per thread); results/bench/device-*.csv.
    BenchDevice {
        /// Paths to measure (comma-separated): cpu, ndarray, wgpu.
        #[arg(long, value_delimiter = ',', default_values_t = [String::from("cpu"), String::from("ndarray")])]
        devices: Vec<String>,
        /// MLP widths (comma-separated; default d = 1 055 242).
        #[arg(long, value_delimiter = ',', default_values_t = [512usize, 1024, 512, 10])]
        widths: Vec<usize>,
        /// Chains.
        #[arg(long, default_value_t = 64)]
        chains: usize,
        /// Minibatch size.
        #[arg(long, default_value_t = 256)]
        batch: usize,
        /// Training points.
        #[arg(long, default_value_t = 1024)]
        n: usize,
        /// Timed SGLD steps per chain.
        #[arg(long, default_value_t = 5)]
        steps: usize,
        /// Untimed steps per chain first on a stacked path (kernel compilation, autotuning).
        #[arg(long, default_value_t = 2)]
        warmup: usize,
        /// Results folder.
        #[arg(long, default_value = "results/bench")]
        out: PathBuf,
        /// No progress lines.
        #[arg(long)]
        quiet: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn execute(cli: Cli) -> Result<()> {
    let load = |c: &Common| -> Result<(ValidConfig, RunOptions)> {
        let config = ValidConfig::from_file(&c.config)?;
        let opts = RunOptions::for_config(&config, c.out.clone(), c.quiet);
        Ok((config, opts))
    };
    match cli.command {
        Command::Run(c) => {
            let (config, opts) = load(&c)?;
            run_all(&config, &opts)?;
        }
        Command::Train(c) => {
            let (config, opts) = load(&c)?;
            run_train(&config, &opts)?;
        }
        Command::Llc(c) => {
            let (config, opts) = load(&c)?;
            run_llc(&config, &opts, None)?;
        }
        Command::Volume(c) => {
            let (config, opts) = load(&c)?;
            slt::commands::volume::run_volume(&config, &opts)?;
        }
        Command::Hessian(c) => {
            let (config, opts) = load(&c)?;
            slt::commands::volume::run_hessian(&config, &opts)?;
        }
        Command::Calibrate(c) => {
            let (config, opts) = load(&c)?;
            slt::commands::calibrate::run_calibrate(&config, &opts)?;
        }
        Command::Bench {
            peer,
            threads,
            out,
            quiet,
        } => {
            if !quiet {
                eprintln!(
                    "one core's matrix-product peak (faer, 768³): f64 {:.1} GFLOP/s, f32 {:.1} GFLOP/s",
                    slt::commands::bench::gemm_peak_gflops::<f64>(),
                    slt::commands::bench::gemm_peak_gflops::<f32>()
                );
            }
            slt::commands::bench::run_bench(&out, peer.as_deref(), &threads, quiet)?;
        }
        Command::BenchDevice {
            devices,
            widths,
            chains,
            batch,
            n,
            steps,
            warmup,
            out,
            quiet,
        } => {
            let devices = devices
                .iter()
                .map(|d| match d.as_str() {
                    "cpu" => Ok(DeviceChoice::Cpu),
                    "ndarray" => Ok(DeviceChoice::Ndarray),
                    "wgpu" => Ok(DeviceChoice::Wgpu),
                    other => Err(ConfigError::Invalid {
                        key: "--devices".into(),
                        value: other.into(),
                        rule: "must be cpu, ndarray or wgpu".into(),
                    }),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let spec = slt::commands::bench_device::DeviceBench {
                widths,
                chains,
                batch,
                n,
                steps,
                warmup,
            };
            slt::commands::bench_device::run_device_bench(&out, &devices, &spec, quiet)?;
        }
        Command::Sweep {
            file,
            out,
            jobs,
            shard,
            merge,
            quiet,
        } => {
            if jobs == 0 {
                return Err(ConfigError::Invalid {
                    key: "--jobs".into(),
                    value: "0".into(),
                    rule: "must be at least 1".into(),
                }
                .into());
            }
            let plan = slt::sweep::load(&file, out)?;
            if merge {
                slt::sweep::merge(&plan, quiet)?;
            } else {
                let outcome =
                    slt::sweep::run_sweep(&plan, &slt::sweep::SweepOptions { jobs, shard, quiet })?;
                if outcome.failed > 0 {
                    return Err(Error::Run(format!(
                        "{} of {} points failed (their messages are in the error column of {})",
                        outcome.failed,
                        outcome.points,
                        outcome.csv.display()
                    )));
                }
            }
        }
        Command::Plot { dir, x, y } => {
            for path in slt::sweep::plot::plot_results(&dir, x.as_deref(), y.as_deref())? {
                println!("{} (and .svg)", path.display());
            }
        }
        Command::Check { file } => {
            println!(
                "ok: {} ({})",
                file.display(),
                slt::commands::check::check_file(&file)?
            );
        }
        Command::Theory { config } => {
            let config = ValidConfig::from_file(&config)?;
            print!("{}", theory_text(&config));
        }
    }
    Ok(())
}
