//! The `oncall` binary: `serve`, `migrate`, and `admin token`.

use std::io::IsTerminal;

use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use oncall::config::{self, CommonArgs, LogFormat, ServeArgs, Settings};
use oncall::domain::access::Role;

/// A storm allocates and frees millions of small labels, strings and rows; mimalloc's
/// per-thread free lists cost a fraction of glibc's malloc there (measured with the
/// load harness, see README).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "oncall",
    version,
    about = "Alerting and on-call engine for ISP and datacenter NOCs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve gRPC and HTTP and run the engine (embedded SQLite unless told otherwise).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(CommonArgs),
    /// Administration that works straight on the database.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Print a new API token, written straight to the database: the way back in when no
    /// admin token is known.
    Token(TokenArgs),
}

#[derive(clap::Args)]
struct TokenArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// The token's role.
    #[arg(long, value_enum, default_value_t = RoleArg::Admin)]
    role: RoleArg,
    /// The user the token belongs to (created if no user has this name).
    #[arg(long)]
    name: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum RoleArg {
    Viewer,
    Responder,
    Admin,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Responder => Role::Responder,
            RoleArg::Admin => Role::Admin,
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let file = config::read_file(args.common.config.as_deref())?;
            let settings = Settings::resolve(&args, &file)?;
            init_logging(settings.log_format);
            oncall::server::serve(settings).await
        }
        Command::Migrate(common) => {
            let file = config::read_file(common.config.as_deref())?;
            init_logging(config::log_format(&common, &file));
            let url = config::database_url(&common, &file);
            oncall::store::open(&url).await?;
            tracing::info!(database = %oncall::server::redact(&url), "migrations applied");
            Ok(())
        }
        Command::Admin {
            command: AdminCommand::Token(args),
        } => {
            let file = config::read_file(args.common.config.as_deref())?;
            init_logging(config::log_format(&args.common, &file));
            let store = oncall::store::open(&config::database_url(&args.common, &file)).await?;
            let name = args.name.trim();
            anyhow::ensure!(!name.is_empty(), "--name must not be empty");
            let user = oncall::server::ensure_user(store.as_ref(), name).await?;
            let (_, token) =
                oncall::grpc::issue_token(store.as_ref(), user.id, args.role.into(), "cli").await?;
            println!("{token}");
            Ok(())
        }
    }
}
