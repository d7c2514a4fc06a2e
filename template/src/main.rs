use std::process::ExitCode;

{% if kind == "service" -%}
use {{crate_name}}::serve;
{%- else -%}
use {{crate_name}}::fetch;
{%- endif %}
use {{crate_name}}::{NAME, VERSION, self_check};

// Printed after "usage: NAME ": the name is left out so that no line's length depends on it.
{% if kind == "service" -%}
const USAGE: &str = "[serve | healthcheck | self-check | --version]
  serve        run the HTTP service on $PORT (the default command)
  healthcheck  exit 0 when the service on $PORT answers GET /health, 1 otherwise
  self-check   print libc, allocator and CA roots of this build";
{%- else -%}
const USAGE: &str = "[fetch URL | self-check | --version]
  fetch URL    GET the URL and print its status and size; exit 1 unless it succeeded
  self-check   print libc, allocator and CA roots of this build";
{%- endif %}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
{%- if kind == "service" %}
        [] | ["serve"] => {
            let port = serve::port_from_env()?;
            let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
            println!("listening on {}", listener.local_addr()?);
            serve::serve(listener, serve::shutdown_signal()).await?;
            println!("stopped");
        }
        ["healthcheck"] => {
            let port = serve::port_from_env()?;
            if let Err(error) = serve::healthcheck(port).await {
                eprintln!("unhealthy: {error:#}");
                return Ok(ExitCode::FAILURE);
            }
        }
{%- else %}
        ["fetch", url] => {
            let fetched = fetch::fetch(url).await?;
            println!("{fetched}");
            if !fetched.status.is_success() {
                return Ok(ExitCode::FAILURE);
            }
        }
{%- endif %}
        ["self-check"] => print!("{}", self_check()),
        ["--version" | "-V"] => println!("{NAME} {VERSION}"),
        ["--help" | "-h"] => println!("usage: {NAME} {USAGE}"),
        _ => {
            eprintln!("usage: {NAME} {USAGE}");
            return Ok(ExitCode::from(2));
        }
    }
    Ok(ExitCode::SUCCESS)
}
