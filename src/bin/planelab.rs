//! planelab: builds a whole multi-host plane overlay in network namespaces
//! on one machine from a topology file, proves it works, draws it, removes
//! it. docs/planelab.md is the guide.
//!
//! Exit codes: 0 success (for `check`: every claim held); 1 an error, or a
//! failed check; 2 usage error.

use clap::{Parser, Subcommand, ValueEnum};
use plane::lab::build::{self, Progress, UpOptions};
use plane::lab::check::{self, CheckOptions, CheckReport};
use plane::lab::topology::PairPolicy;
use plane::lab::{draw, Lab, LabError, Names};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "planelab",
    version,
    about = "Build, check and remove plane labs in network namespaces"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Pairs {
    All,
    Sample,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build the lab: namespaces, underlay, daemons, containers.
    Up {
        topology: PathBuf,
        /// Keep what was built when a step fails.
        #[arg(long)]
        keep: bool,
        /// Seconds to wait for daemons and BGP sessions.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Prove the claims: reachability, isolation, BUM = 0, BGP, kernel vs RIB.
    Check {
        topology: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Which pairs to ping (default: the topology's `[check] pairs`).
        #[arg(long, value_enum)]
        pairs: Option<Pairs>,
        /// Also draw the result to this file (.svg, .png or .dot).
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
    },
    /// Remove everything the lab made (works from its name alone).
    Down {
        /// The topology file (its name is the lab's).
        topology: Option<PathBuf>,
        /// The lab name, when the topology file is not at hand.
        #[arg(long, conflicts_with = "topology")]
        lab: Option<String>,
    },
    /// Show the lab's hosts, daemons and sessions; without a file, list labs.
    Status {
        topology: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Draw the lab (coloured by the last check when there was one).
    Show {
        topology: PathBuf,
        /// Output file: .svg (default), .png, or .dot for the DOT text.
        #[arg(long, value_name = "FILE")]
        svg: PathBuf,
    },
    /// Inject or repair a fault (for demos and tests).
    Fault {
        topology: PathBuf,
        #[command(subcommand)]
        fault: Fault,
    },
}

#[derive(Subcommand, Debug)]
enum Fault {
    /// SIGKILL the daemons of a host.
    Kill { host: String },
    /// Start the daemons of a host again.
    Revive { host: String },
    /// Take a host's underlay link down.
    Cut { host: String },
    /// Bring a host's underlay link up again.
    Restore { host: String },
    /// Detach a container and delete its namespace.
    Stop { container: String },
    /// Create a stopped container's namespace and attach it again.
    Start { container: String },
    /// Detach a container, recreate its namespace, attach it again.
    Restart { container: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("planelab: {e}");
            ExitCode::from(1)
        }
    }
}

fn load(path: &Path) -> Result<Lab, LabError> {
    Ok(Lab::load(path)?)
}

fn progress() -> Progress<'static> {
    Progress::new(|line| eprintln!("{line}"))
}

fn need_root() -> Result<(), LabError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(LabError::Other(
            "needs root (network namespaces, veths): run with sudo".into(),
        ))
    }
}

fn report_path(lab: &Lab) -> PathBuf {
    Names::new(&lab.name).state_dir().join("check.json")
}

fn run(cmd: Command) -> Result<ExitCode, LabError> {
    match cmd {
        Command::Up {
            topology,
            keep,
            timeout,
        } => {
            let lab = load(&topology)?;
            need_root()?;
            let opts = UpOptions {
                keep_on_error: keep,
                timeout: Duration::from_secs(timeout),
                ..UpOptions::default()
            };
            let mut p = progress();
            build::up(&lab, &opts, &mut p)?;
            eprintln!(
                "lab {} is up: {} hosts, {} containers ({:.1}s); `planelab check {}`",
                lab.name,
                lab.hosts.len(),
                lab.containers.len(),
                p.elapsed().as_secs_f64(),
                topology.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            topology,
            json,
            pairs,
            svg,
        } => {
            let lab = load(&topology)?;
            need_root()?;
            let opts = CheckOptions {
                pairs: pairs.map(|p| match p {
                    Pairs::All => PairPolicy::All,
                    Pairs::Sample => PairPolicy::Sample,
                }),
                ..CheckOptions::default()
            };
            let report = check::check(&lab, &opts)?;
            let text = serde_json::to_string_pretty(&report)
                .map_err(|e| LabError::Other(e.to_string()))?;
            // Kept for `show`, which colours the picture by the last check.
            let _ = std::fs::write(report_path(&lab), &text);
            if json {
                println!("{text}");
            } else {
                print!("{}", report.table());
            }
            if let Some(out) = svg {
                draw_to(&lab, Some(&report), &out)?;
            }
            Ok(if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Down { topology, lab } => {
            let name = match (topology, lab) {
                (Some(t), _) => load(&t)?.name,
                (None, Some(l)) => l,
                (None, None) => {
                    return Err(LabError::Other(
                        "down: give a topology file or --lab NAME".into(),
                    ))
                }
            };
            need_root()?;
            let r = build::down(&Names::new(&name), &mut progress())?;
            eprintln!(
                "lab {name} is down: {} namespaces, {} processes removed",
                r.namespaces, r.processes
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { topology: None, .. } => {
            for l in build::running_labs()? {
                println!("{l}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status {
            topology: Some(t),
            json,
        } => {
            let lab = load(&t)?;
            let st = build::status(&lab)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&st)
                        .map_err(|e| LabError::Other(e.to_string()))?
                );
            } else {
                println!(
                    "{:<12} {:<10} {:<6} {:<24} {:>9} {:>9}",
                    "HOST", "KIND", "NETNS", "DAEMONS", "SESSIONS", "ENDPOINTS"
                );
                for h in st {
                    let d = h
                        .daemons
                        .iter()
                        .map(|(w, ok)| format!("{w}:{}", if *ok { "up" } else { "down" }))
                        .collect::<Vec<_>>()
                        .join(",");
                    println!(
                        "{:<12} {:<10} {:<6} {:<24} {:>9} {:>9}",
                        h.host,
                        h.kind,
                        if h.namespace { "yes" } else { "no" },
                        if d.is_empty() { "-".into() } else { d },
                        format!("{}/{}", h.sessions_established, h.sessions),
                        h.endpoints.map_or("-".into(), |e| e.to_string())
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { topology, svg } => {
            let lab = load(&topology)?;
            // Coloured by the last check of this lab, when there was one.
            let report = std::fs::read_to_string(report_path(&lab))
                .ok()
                .and_then(|t| serde_json::from_str::<CheckReport>(&t).ok());
            draw_to(&lab, report.as_ref(), &svg)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Fault { topology, fault } => {
            let lab = load(&topology)?;
            need_root()?;
            let names = Names::new(&lab.name);
            match fault {
                Fault::Kill { host } => {
                    let n = build::kill_host_daemons(&lab, &names, &host)?;
                    eprintln!("{host}: {n} daemon(s) killed");
                }
                Fault::Revive { host } => build::start_host_daemons(&lab, &names, &host)?,
                Fault::Cut { host } => build::set_underlay_link(&lab, &names, &host, false)?,
                Fault::Restore { host } => build::set_underlay_link(&lab, &names, &host, true)?,
                Fault::Stop { container } => {
                    build::detach(&lab, &names, container_of(&lab, &container)?)?
                }
                Fault::Start { container } => {
                    build::start_container(&lab, &names, container_of(&lab, &container)?)?
                }
                Fault::Restart { container } => {
                    build::restart_container(&lab, &names, container_of(&lab, &container)?)?
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn container_of<'a>(
    lab: &'a Lab,
    name: &str,
) -> Result<&'a plane::lab::topology::Container, LabError> {
    lab.containers
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| LabError::Other(format!("no container {name} in lab {}", lab.name)))
}

fn draw_to(lab: &Lab, report: Option<&CheckReport>, out: &Path) -> Result<(), LabError> {
    let dot = draw::dot(lab, report);
    if draw::render(&dot, out)? {
        eprintln!("wrote {}", out.display());
    } else {
        eprintln!(
            "wrote DOT to {} (Graphviz `dot` renders it)",
            out.with_extension("dot").display()
        );
    }
    Ok(())
}
