//! The PostgreSQL store over TLS, against a PostgreSQL cluster of the test's own: made with this
//! machine's `initdb`, with a certificate the test makes, refusing plain connections, and
//! asking one role for a password.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The binaries of the newest PostgreSQL installed.
fn pg_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server binaries under /usr/lib/postgresql (docs/services.md)")
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("initdb under /usr/lib/postgresql/*/bin")
}

fn run(command: &mut Command) {
    let out = command.output().unwrap_or_else(|err| panic!("{command:?}: {err}"));
    assert!(
        out.status.success(),
        "{command:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `openssl` makes a CA and a server certificate for `names` (subjectAltName entries) signed by
/// it, in `dir`; returns the CA's file.
fn certificates(dir: &Path, tag: &str, names: &str) -> PathBuf {
    let ca_key = dir.join(format!("{tag}-ca.key"));
    let ca = dir.join(format!("{tag}-ca.pem"));
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
        ])
        .args(["-subj", &format!("/CN=aimos test CA {tag}")])
        .arg("-keyout")
        .arg(&ca_key)
        .arg("-out")
        .arg(&ca));
    let key = dir.join(format!("{tag}-server.key"));
    let csr = dir.join(format!("{tag}-server.csr"));
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=db",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr));
    let ext = dir.join(format!("{tag}-ext.cnf"));
    std::fs::write(&ext, format!("subjectAltName={names}\n")).unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(&csr)
        .arg("-CA")
        .arg(&ca)
        .arg("-CAkey")
        .arg(&ca_key)
        .arg("-extfile")
        .arg(&ext)
        .arg("-out")
        .arg(dir.join(format!("{tag}-server.pem"))));
    ca
}

/// A running cluster, stopped and removed at the end.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> (Cluster, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let ca = certificates(root, "good", "DNS:localhost");
        let bin = pg_bin();
        let data = root.join("data");
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let postgres = nix_user("postgres");
        for file in ["good-server.key", "good-server.pem"] {
            std::os::unix::fs::chown(root.join(file), Some(postgres), None).unwrap();
        }
        std::fs::set_permissions(
            root.join("good-server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        std::fs::create_dir(&data).unwrap();
        std::os::unix::fs::chown(&data, Some(postgres), None).unwrap();
        let as_postgres = |program: &str| {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(bin.join(program));
            command
        };
        run(as_postgres("initdb").args(["-A", "trust", "-U", "postgres", "-D"]).arg(&data));
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
            data.display(),
            root.join("good-server.pem").display(),
            root.join("good-server.key").display()
        );
        let mut existing = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        existing.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), existing).unwrap();
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all keeper 127.0.0.1/32 scram-sha-256\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n",
        )
        .unwrap();
        run(as_postgres("pg_ctl")
            .args(["-w", "-l"])
            .arg(data.join("log"))
            .arg("-D")
            .arg(&data)
            .arg("start"));
        let cluster = Cluster { bin, data, port, _dir: dir };
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(cluster.bin.join("psql"))
            .args(["-h"])
            .arg(&cluster.data)
            .args(["-p", &port.to_string(), "-d", "postgres"])
            .args(["-c", "CREATE ROLE keeper LOGIN PASSWORD 's3cret pass'"])
            .args(["-c", "CREATE DATABASE shop OWNER keeper"]));
        (cluster, ca)
    }

    /// The superuser works in `postgres`, `keeper` in its own database, `shop`.
    fn url(&self, user: &str, host: &str, query: &str) -> String {
        let database = if user.starts_with("keeper") { "shop" } else { "postgres" };
        format!("postgres://{user}@{host}:{}/{database}?{query}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-m", "immediate", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output();
    }
}

fn nix_user(name: &str) -> u32 {
    let out = Command::new("id").args(["-u", name]).output().expect("id");
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a user id")
}

fn works(url: &str) {
    let store = aimos_store::open(url).unwrap_or_else(|err| panic!("{url}: {err}"));
    assert!(aimos_core::Store::stats(&*store).is_ok(), "{url}");
}

fn refused(url: &str, why: &str) {
    let err = match aimos_store::open(url) {
        Ok(_) => panic!("{url} connected"),
        Err(err) => err.to_string(),
    };
    assert!(err.contains(why), "{url}: {err}");
}

#[test]
fn tls_modes_root_certificates_and_passwords_as_libpq_reads_them() {
    let (cluster, ca) = Cluster::start();
    let ca = ca.display().to_string();
    let other_ca =
        certificates(cluster._dir.path(), "other", "DNS:localhost").display().to_string();

    // The server refuses plain connections: `disable` cannot connect, the others use TLS.
    refused(&cluster.url("postgres", "127.0.0.1", "sslmode=disable"), "cannot connect");
    works(&cluster.url("postgres", "127.0.0.1", ""));
    works(&cluster.url("postgres", "127.0.0.1", "sslmode=prefer"));
    works(&cluster.url("postgres", "127.0.0.1", "sslmode=require"));
    // The chain and the name: the certificate names `localhost`, not the address.
    works(&cluster.url("postgres", "localhost", &format!("sslmode=verify-full&sslrootcert={ca}")));
    works(&cluster.url("postgres", "127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}")));
    refused(
        &cluster.url("postgres", "127.0.0.1", &format!("sslmode=verify-full&sslrootcert={ca}")),
        "cannot connect",
    );
    refused(
        &cluster.url(
            "postgres",
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={other_ca}"),
        ),
        "cannot connect",
    );
    refused(
        &cluster.url("postgres", "localhost", &format!("sslmode=require&sslrootcert={other_ca}")),
        "cannot connect",
    );
    refused(&cluster.url("postgres", "localhost", "sslmode=verify-full"), "sslrootcert=FILE");

    // Passwords: the URL's, PGPASSWORD's, a passfile's.
    let keeper = |query: &str| cluster.url("keeper", "localhost", query);
    refused(&keeper("sslmode=require"), "password");
    works(&cluster.url("keeper:s3cret%20pass", "localhost", "sslmode=require"));
    let passfile = cluster._dir.path().join("pgpass");
    std::fs::write(
        &passfile,
        format!("# aimos\nlocalhost:{}:shop:keeper:s3cret pass\n", cluster.port),
    )
    .unwrap();
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o644)).unwrap();
    set_env("PGPASSFILE", &passfile.display().to_string());
    refused(&keeper("sslmode=require"), "password");
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).unwrap();
    works(&keeper("sslmode=require"));
    set_env("PGPASSFILE", "/nonexistent");
    set_env("PGPASSWORD", "s3cret pass");
    works(&keeper(&format!("sslmode=verify-full&sslrootcert={ca}")));
}

/// Sets an environment variable for the connections this test makes next.
#[allow(unsafe_code)]
fn set_env(name: &str, value: &str) {
    // SAFETY: nextest runs each test in a process of its own, and no other thread of this one
    // reads the environment while the variable is set.
    unsafe { std::env::set_var(name, value) };
}
