//! The `slt` command line: parses arguments, runs a command, maps errors to exit codes (2: bad input).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use slt::config::{ConfigError, ValidConfig};
use slt::pipeline::{run_all, run_llc, run_train, theory_text, RunOptions};

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
    /// Print the known λ and multiplicity of the config's model.
    Theory {
        /// The run's TOML config.
        config: PathBuf,
    },
    /// SGLD throughput on the standard workloads (toy model, small MLP, wide MLP), with the ratio to
    /// devinterp when its results (../shared/peer/run.sh OUTDIR) are given.
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            let bad_input = e
                .chain()
                .any(|c| c.downcast_ref::<ConfigError>().is_some() || is_input_error(c));
            ExitCode::from(if bad_input { 2 } else { 1 })
        }
    }
}

/// Estimator errors that come from the user's settings (not from a failed run).
fn is_input_error(e: &(dyn std::error::Error + 'static)) -> bool {
    matches!(
        e.downcast_ref::<slt_estimators::Error>(),
        Some(slt_estimators::Error::OutOfRange { .. } | slt_estimators::Error::InvalidShape { .. })
    )
}

fn execute(cli: Cli) -> anyhow::Result<()> {
    let load = |c: &Common| -> anyhow::Result<(ValidConfig, RunOptions)> {
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
        Command::Bench {
            peer,
            threads,
            out,
            quiet,
        } => {
            if !quiet {
                eprintln!(
                    "one core's matrix-product peak (faer, 768³): f64 {:.1} GFLOP/s, f32 {:.1} GFLOP/s",
                    slt::bench::gemm_peak_gflops::<f64>(),
                    slt::bench::gemm_peak_gflops::<f32>()
                );
            }
            slt::bench::run_bench(&out, peer.as_deref(), &threads, quiet)?;
        }
        Command::Theory { config } => {
            let config = ValidConfig::from_file(&config)?;
            print!("{}", theory_text(&config));
        }
    }
    Ok(())
}
