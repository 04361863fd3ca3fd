//! planectl: shows planed's state and attaches endpoints, over the control
//! socket. Tables for people, `--json` (one JSON array of objects) for scripts.
//!
//! Exit codes (docs/planectl.md):
//! - 0: success;
//! - 1: planed refused or failed the request (the error is printed);
//! - 2: usage error (bad flag or value);
//! - 3: planed cannot be reached, or the connection failed mid-request.

use clap::{Args, Parser, Subcommand};
use plane::config::values::{check_ifname, parse_unicast_mac, IpCidr};
use plane::config::DEFAULT_SOCKET_PATH;
use plane::control::{
    Attach, Client, ClientError, ControlError, EndpointKey, EndpointSpec, RouteFilter,
};
use plane_bgp::wire::MacAddr;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

#[path = "planectl/table.rs"]
mod table;

const EXIT_REFUSED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_UNREACHABLE: u8 = 3;

#[derive(Parser, Debug)]
#[command(
    name = "planectl",
    version,
    about = "Show plane's state and attach endpoints"
)]
struct Cli {
    /// planed's control socket.
    #[arg(long, global = true, value_name = "PATH", env = "PLANE_SOCKET", default_value = DEFAULT_SOCKET_PATH)]
    socket: PathBuf,
    /// Print one JSON array of objects instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show state.
    #[command(subcommand)]
    Show(Show),
    /// Attach or detach local endpoints.
    #[command(subcommand)]
    Endpoint(EndpointCmd),
}

#[derive(Subcommand, Debug)]
enum Show {
    /// EVPN routes (type 2 MAC/IP, type 3 IMET), best marked `*>`.
    Routes {
        #[arg(long, value_parser = parse_vni)]
        vni: Option<u32>,
        /// Route type: 2 (MAC/IP) or 3 (IMET).
        #[arg(long = "type", value_parser = clap::value_parser!(u8).range(2..=3))]
        route_type: Option<u8>,
        #[arg(long, value_parser = parse_mac)]
        mac: Option<MacAddr>,
    },
    /// BGP neighbours and their sessions.
    #[command(alias = "neighbours")]
    Neighbors,
    /// Configured VNIs.
    Vnis,
    /// Local endpoints.
    Endpoints {
        #[arg(long, value_parser = parse_vni)]
        vni: Option<u32>,
    },
    /// What is programmed in the kernel: remote MACs, suppression neighbours.
    Fdb {
        #[arg(long, value_parser = parse_vni)]
        vni: Option<u32>,
    },
    /// The daemon at a glance.
    Summary,
}

#[derive(Subcommand, Debug)]
enum EndpointCmd {
    /// Attach an endpoint: an existing host port (--port) or a veth plane
    /// makes into a namespace (--netns).
    Add(AddArgs),
    /// Detach an endpoint (deletes the veth plane made for it).
    Del(KeyArgs),
    /// Show one endpoint (exit 1 when planed does not know it).
    Get(KeyArgs),
}

#[derive(Args, Debug)]
struct KeyArgs {
    #[arg(long, value_parser = parse_vni)]
    vni: u32,
    #[arg(long, value_parser = parse_mac)]
    mac: MacAddr,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("attach").required(true).args(["port", "netns"])))]
struct AddArgs {
    #[arg(long, value_parser = parse_vni)]
    vni: u32,
    /// The endpoint's MAC. Optional with --netns: derived from the VNI, the
    /// namespace and the interface name (stable, locally administered).
    #[arg(long, value_parser = parse_mac, required_unless_present = "netns")]
    mac: Option<MacAddr>,
    /// Addresses with prefix length, comma-separated (10.0.0.2/24,fd00::2/64).
    #[arg(long, value_delimiter = ',', value_name = "A/LEN[,B/LEN]")]
    ip: Vec<IpCidr>,
    /// An existing host-side interface to put on the VNI's bridge.
    #[arg(long, value_name = "IFACE", value_parser = check_ifname)]
    port: Option<String>,
    /// A network namespace (file path or PID): plane makes the veth.
    #[arg(long, value_name = "PATH|PID")]
    netns: Option<String>,
    /// Interface name inside the namespace [default: eth0].
    #[arg(long, conflicts_with = "port", value_parser = check_ifname)]
    ifname: Option<String>,
}

fn parse_vni(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(v) if (1..=plane::config::MAX_VNI).contains(&v) => Ok(v),
        _ => Err(format!("24-bit VNI (1..=16777215) expected, got {s:?}")),
    }
}

fn parse_mac(s: &str) -> Result<MacAddr, String> {
    parse_unicast_mac(s)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("planectl: {e}");
            ExitCode::from(match e {
                ClientError::Daemon(_) => EXIT_REFUSED,
                ClientError::Connect { .. } | ClientError::Io { .. } | ClientError::Protocol(_) => {
                    EXIT_UNREACHABLE
                }
            })
        }
    }
}

fn run(cli: &Cli) -> Result<(), ClientError> {
    let mut client = Client::connect(&cli.socket)?;
    let json = cli.json;
    match &cli.command {
        Command::Show(Show::Routes {
            vni,
            route_type,
            mac,
        }) => {
            let routes = client.show_routes(RouteFilter {
                vni: *vni,
                route_type: *route_type,
                mac: *mac,
            })?;
            output(json, &routes, table::routes)
        }
        Command::Show(Show::Neighbors) => output(json, &client.show_neighbors()?, table::neighbors),
        Command::Show(Show::Vnis) => output(json, &client.show_vnis()?, table::vnis),
        Command::Show(Show::Endpoints { vni }) => {
            output(json, &client.show_endpoints(*vni)?, table::endpoints)
        }
        Command::Show(Show::Fdb { vni }) => output(json, &client.show_fdb(*vni)?, table::fdb),
        Command::Show(Show::Summary) => output(json, &[client.show_summary()?], table::summary),
        Command::Endpoint(EndpointCmd::Add(a)) => {
            let ifname = a.ifname.clone().unwrap_or_else(|| "eth0".to_string());
            let mac = match (a.mac, &a.netns) {
                (Some(m), _) => m,
                (None, Some(netns)) => {
                    plane::endpoint::stable_mac(a.vni, &format!("{netns}/{ifname}"))
                }
                // clap requires --mac without --netns.
                (None, None) => MacAddr::ZERO,
            };
            let attach = match (&a.port, &a.netns) {
                (Some(port), _) => Attach::Port {
                    ifname: port.clone(),
                },
                (None, Some(netns)) => Attach::Netns {
                    netns: netns.clone(),
                    ifname,
                },
                // clap's "attach" group requires one of them.
                (None, None) => Attach::Port {
                    ifname: String::new(),
                },
            };
            let spec = EndpointSpec {
                vni: a.vni,
                mac,
                ips: a.ip.clone(),
                attach,
            };
            let ep = client.endpoint_add(spec)?;
            output(json, &[ep], table::endpoints)
        }
        Command::Endpoint(EndpointCmd::Del(k)) => {
            client.endpoint_del(EndpointKey {
                vni: k.vni,
                mac: k.mac,
            })?;
            if json {
                println!("[]");
            }
            Ok(())
        }
        Command::Endpoint(EndpointCmd::Get(k)) => match client.endpoint_get(EndpointKey {
            vni: k.vni,
            mac: k.mac,
        })? {
            Some(ep) => output(json, &[ep], table::endpoints),
            None => Err(ClientError::Daemon(ControlError::not_found(format!(
                "no endpoint {} on VNI {}",
                k.mac, k.vni
            )))),
        },
    }
}

/// Prints `items` as one JSON array, or as the table `render` makes.
fn output<T: Serialize>(
    json: bool,
    items: &[T],
    render: fn(&[T]) -> String,
) -> Result<(), ClientError> {
    if json {
        let text = serde_json::to_string_pretty(items)
            .map_err(|e| ClientError::Protocol(format!("cannot encode JSON: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", render(items));
    }
    Ok(())
}
