//! Secrets out of text before it leaves the machine: each match becomes a typed placeholder
//! (`[REDACTED:aws_access_key]`), so a model still sees that something was there and what.
//!
//! Patterns are anchored on what makes a secret a secret — a vendor's prefix, a PEM armour, a
//! secret-looking name in an assignment, credentials in a URL — so that look-alikes stay: commit
//! hashes, UUIDs, checksums, version numbers, colours.

use std::sync::OnceLock;

use regex::{Captures, Regex};

/// Which text is redacted before it is sent to a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedactPolicy {
    /// Text sent to models outside this machine (the default).
    #[default]
    External,
    /// Text sent to any model, embedded ones included.
    All,
    /// Nothing.
    Off,
}

impl std::str::FromStr for RedactPolicy {
    type Err = String;

    fn from_str(text: &str) -> Result<RedactPolicy, String> {
        match text {
            "external" => Ok(RedactPolicy::External),
            "all" => Ok(RedactPolicy::All),
            "off" => Ok(RedactPolicy::Off),
            other => {
                Err(format!("unknown redaction policy `{other}`: expected external, all or off"))
            }
        }
    }
}

impl RedactPolicy {
    /// Whether text for a model (external or not) is redacted under this policy.
    pub fn applies(self, external: bool) -> bool {
        match self {
            RedactPolicy::External => external,
            RedactPolicy::All => true,
            RedactPolicy::Off => false,
        }
    }
}

/// The text with its secrets replaced, and how many of each kind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Redacted {
    pub text: String,
    /// `(kind, count)`, in the order kinds were first found.
    pub found: Vec<(&'static str, usize)>,
}

impl Redacted {
    pub fn count(&self) -> usize {
        self.found.iter().map(|(_, n)| n).sum()
    }

    /// Adds `n` redactions of `kind` to the counts.
    pub fn add(&mut self, kind: &'static str, n: usize) {
        match self.found.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, total)) => *total += n,
            None => self.found.push((kind, n)),
        }
    }
}

/// Where in a match the secret is: the whole match, or one capture group (the rest stays).
#[derive(Clone, Copy)]
enum Part {
    Whole,
    Group(usize),
}

struct Rule {
    kind: &'static str,
    regex: Regex,
    part: Part,
    /// Values that must also look random (Shannon entropy in bits per character).
    min_entropy: Option<f64>,
}

/// (kind, pattern, part, minimum entropy). Order matters: specific before generic.
const RULES: &[(&str, &str, Part, Option<f64>)] = &[
    (
        "private_key",
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----",
        Part::Whole,
        None,
    ),
    (
        "aws_access_key",
        r"\b(AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b",
        Part::Whole,
        None,
    ),
    (
        "aws_secret_key",
        r#"(?i)aws_?secret_?(access_?)?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})\b"#,
        Part::Group(2),
        None,
    ),
    ("github_token", r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b", Part::Whole, None),
    ("github_token", r"\bgithub_pat_[A-Za-z0-9_]{60,255}\b", Part::Whole, None),
    ("gitlab_token", r"\bgl(pat|dt|rt|ptt|cbt|oas)-[A-Za-z0-9_-]{20,}", Part::Whole, None),
    ("slack_token", r"\bxox[abposre]-[A-Za-z0-9-]{10,}", Part::Whole, None),
    (
        "slack_webhook",
        r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+",
        Part::Whole,
        None,
    ),
    (
        "discord_webhook",
        r"https://(discord|discordapp)\.com/api/webhooks/[0-9]+/[A-Za-z0-9_-]+",
        Part::Whole,
        None,
    ),
    ("stripe_key", r"\b(sk|rk)_(live|test)_[A-Za-z0-9]{16,}\b", Part::Whole, None),
    ("stripe_webhook_secret", r"\bwhsec_[A-Za-z0-9]{24,}\b", Part::Whole, None),
    ("anthropic_key", r"\bsk-ant-[A-Za-z0-9_-]{20,}", Part::Whole, None),
    ("openai_key", r"\bsk-(proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}", Part::Whole, None),
    ("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}\b", Part::Whole, None),
    ("google_oauth_secret", r"\bGOCSPX-[A-Za-z0-9_-]{28}\b", Part::Whole, None),
    ("azure_storage_key", r"AccountKey=[A-Za-z0-9+/=]{40,}", Part::Whole, None),
    ("azure_shared_access_key", r"SharedAccessKey=[A-Za-z0-9+/=]{20,}", Part::Whole, None),
    ("npm_token", r"\bnpm_[A-Za-z0-9]{36}\b", Part::Whole, None),
    ("pypi_token", r"\bpypi-AgE[A-Za-z0-9_-]{50,}", Part::Whole, None),
    ("crates_io_token", r"\bcio[A-Za-z0-9]{32}\b", Part::Whole, None),
    ("docker_hub_token", r"\bdckr_pat_[A-Za-z0-9_-]{27,}", Part::Whole, None),
    ("huggingface_token", r"\bhf_[A-Za-z0-9]{34,}\b", Part::Whole, None),
    ("twilio_key", r"\bSK[0-9a-f]{32}\b", Part::Whole, None),
    ("sendgrid_key", r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b", Part::Whole, None),
    ("mailgun_key", r"\bkey-[0-9a-f]{32}\b", Part::Whole, None),
    ("shopify_token", r"\bshp(at|ca|pa|ss)_[a-fA-F0-9]{32}\b", Part::Whole, None),
    ("square_token", r"\bsq0(atp|csp)-[0-9A-Za-z_-]{22,43}\b", Part::Whole, None),
    (
        "telegram_bot_token",
        r"(?:\bbot|\b)([0-9]{8,10}:AA[A-Za-z0-9_-]{33})\b",
        Part::Group(1),
        None,
    ),
    ("digitalocean_token", r"\bdo[por]_v1_[a-f0-9]{64}\b", Part::Whole, None),
    ("linear_key", r"\blin_api_[A-Za-z0-9]{40}\b", Part::Whole, None),
    ("newrelic_key", r"\bNRAK-[A-Z0-9]{27}\b", Part::Whole, None),
    ("age_secret_key", r"\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b", Part::Whole, None),
    ("mapbox_token", r"\bsk\.eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}", Part::Whole, None),
    ("doppler_token", r"\bdp\.(pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}\b", Part::Whole, None),
    ("pulumi_token", r"\bpul-[a-f0-9]{40}\b", Part::Whole, None),
    ("postman_key", r"\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b", Part::Whole, None),
    ("grafana_token", r"\bglsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}\b", Part::Whole, None),
    ("databricks_token", r"\bdapi[a-f0-9]{32}(-[0-9])?\b", Part::Whole, None),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", Part::Whole, None),
    (
        "basic_auth",
        r"(?i)(authorization:\s*basic\s+)([A-Za-z0-9+/]{8,}={0,2})",
        Part::Group(2),
        None,
    ),
    (
        "bearer_token",
        r"(?i)(authorization:\s*bearer\s+)([A-Za-z0-9._~+/-]{16,}=*)",
        Part::Group(2),
        None,
    ),
    ("url_password", r"\b([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)@", Part::Group(2), None),
    // Passwords given inline to command-line clients; a `$VARIABLE` in their place stays.
    (
        "cli_password",
        r#"\bcurl\b[^\n]*?\s(?:-u|--user)(?:\s+|=)?['"]?[^\s:'"]+:([^\s'"$][^\s'"]*)"#,
        Part::Group(1),
        None,
    ),
    (
        "cli_password",
        r#"\b(?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump)\b[^\n]*?\s(?:-p|--password=)['"]?([^\s'"$-][^\s'"]*)"#,
        Part::Group(1),
        None,
    ),
    ("cli_password", r#"\bsshpass\s+(?:-v\s+)?-p\s*['"]?([^\s'"$][^\s'"]*)"#, Part::Group(1), None),
    (
        "cli_password",
        r#"\b(?:PGPASSWORD|MYSQL_PWD|SSHPASS|REDISCLI_AUTH)=['"]?([^\s'"$;][^\s'";]*)"#,
        Part::Group(1),
        None,
    ),
    ("connection_string_password", r"(?i)\b(password|pwd)=([^;\s'\x22]+)", Part::Group(2), None),
    (
        "env_secret",
        r"(?m)^\s*(export\s+)?[A-Za-z0-9_]*(SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?|AUTH)[A-Za-z0-9_]*\s*=\s*['\x22]?([^\s'\x22]{6,})",
        Part::Group(3),
        Some(3.0),
    ),
    (
        "secret_assignment",
        r#"(?i)["']?[a-z0-9_.-]*(secret|token|password|passwd|api_?key|apikey|private_?key|access_?key|credential)[a-z0-9_.-]*["']?\s*[:=]\s*["']([^"'\s]{8,})["']"#,
        Part::Group(2),
        Some(3.0),
    ),
];

fn rules() -> &'static [Rule] {
    static RULES_COMPILED: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES_COMPILED.get_or_init(|| {
        RULES
            .iter()
            .filter_map(|&(kind, pattern, part, min_entropy)| {
                // The patterns are constants, checked by a test; one that did not compile would
                // be left out rather than take the process down.
                Regex::new(pattern).ok().map(|regex| Rule { kind, regex, part, min_entropy })
            })
            .collect()
    })
}

/// Bits per character of `text`'s character distribution.
fn entropy(text: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut total = 0usize;
    for c in text.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        total += 1;
    }
    counts
        .values()
        .map(|&n| {
            let p = n as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

/// Placeholders already in the text are never matched again.
fn is_placeholder(value: &str) -> bool {
    value.contains("[REDACTED:")
}

/// Replaces every secret in `text` with `[REDACTED:kind]`.
pub fn redact(text: &str) -> Redacted {
    let mut out = Redacted { text: text.to_owned(), found: Vec::new() };
    for rule in rules() {
        let mut count = 0;
        let replaced = rule.regex.replace_all(&out.text, |caps: &Captures<'_>| {
            let whole = caps.get(0).map_or("", |m| m.as_str());
            let (start, end, value) = match rule.part {
                Part::Whole => (0, whole.len(), whole),
                Part::Group(i) => match caps.get(i) {
                    Some(m) => {
                        let offset = caps.get(0).map_or(0, |w| w.start());
                        (m.start() - offset, m.end() - offset, m.as_str())
                    }
                    None => return whole.to_owned(),
                },
            };
            if is_placeholder(value) || rule.min_entropy.is_some_and(|min| entropy(value) < min) {
                return whole.to_owned();
            }
            count += 1;
            format!("{}[REDACTED:{}]{}", &whole[..start], rule.kind, &whole[end..])
        });
        if count > 0 {
            out.text = replaced.into_owned();
            out.add(rule.kind, count);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(rules().len(), RULES.len());
    }

    /// (kind, text holding one secret). Values are made up in the vendors' formats.
    const SECRETS: &[(&str, &str)] = &[
        (
            "private_key",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1234567890abcdef\n-----END RSA PRIVATE KEY-----",
        ),
        (
            "private_key",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
        ),
        ("private_key", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----"),
        (
            "private_key",
            r#"{"private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n"}"#,
        ),
        (
            "private_key",
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----",
        ),
        ("aws_access_key", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE"),
        ("aws_access_key", "ASIAY34FZKBOKMUTVV7A is the session key"),
        ("aws_secret_key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ("github_token", "token ghp_16C7e42F292c6912E7710c838347Ae178B4a"),
        ("github_token", "GH_TOKEN=gho_16C7e42F292c6912E7710c838347Ae178B4a"),
        (
            "github_token",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
        ),
        ("gitlab_token", "glpat-xxxxXXXXxxxxXXXXxxxx"),
        ("slack_token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp"),
        (
            "slack_webhook",
            "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
        ),
        ("discord_webhook", "https://discord.com/api/webhooks/123456789012345678/abcDEF-ghi_JKL"),
        ("stripe_key", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
        ("stripe_key", "rk_test_51H8abcdefghijklmnop"),
        ("stripe_webhook_secret", "whsec_abcdefghijklmnopqrstuvwxyz012345"),
        ("anthropic_key", "ANTHROPIC_API_KEY=sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789"),
        ("openai_key", "client = OpenAI(api_key=\"sk-proj-abcdefghijklmnopqrstuvwxyz0123\")"),
        ("openai_key", "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD"),
        ("google_api_key", "key=AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI"),
        ("google_oauth_secret", "GOCSPX-abcdefghijklmnopqrstuvwxyz12"),
        (
            "azure_storage_key",
            "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;",
        ),
        (
            "azure_shared_access_key",
            "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG=",
        ),
        ("npm_token", "//registry/:_authToken=npm_abcdefghijklmnopqrstuvwxyz0123456789"),
        (
            "pypi_token",
            "password = pypi-AgEIcHlwaS5vcmcCJGFiY2RlZmdoLWlqa2wtbW5vcC1xcnN0LXV2d3h5ejAxMjM0NTY3",
        ),
        ("crates_io_token", "CARGO_REGISTRY_TOKEN: cioabcdefghijklmnopqrstuvwxyz012345"),
        ("docker_hub_token", "dckr_pat_abcdefghijklmnopqrstuvwxyz1"),
        ("huggingface_token", "HF_TOKEN hf_abcdefghijklmnopqrstuvwxyzABCDEFGH"),
        ("twilio_key", "SK0123456789abcdef0123456789abcdef"),
        ("sendgrid_key", "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
        ("mailgun_key", "key-0123456789abcdef0123456789abcdef"),
        ("shopify_token", "shpat_0123456789abcdef0123456789abcdef"),
        ("square_token", "sq0atp-abcdefghijklmnopqrstuv"),
        (
            "telegram_bot_token",
            "https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawX/getMe",
        ),
        (
            "digitalocean_token",
            "dop_v1_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ),
        ("linear_key", "lin_api_abcdefghijklmnopqrstuvwxyz0123456789ABCD"),
        ("newrelic_key", "NRAK-ABCDEFGHIJKLMNOPQRSTUVWXYZ0"),
        (
            "age_secret_key",
            "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
        ),
        (
            "mapbox_token",
            "sk.eyJ1IjoibWFwYm94dXNlciIsImEiOiJja2xtbm9wcXJzIn0.abcdefghijklmnopqrstuv",
        ),
        ("doppler_token", "dp.pt.abcdefghijklmnopqrstuvwxyz0123456789ABCD"),
        ("pulumi_token", "pul-0123456789abcdef0123456789abcdef01234567"),
        ("postman_key", "PMAK-0123456789abcdef01234567-0123456789abcdef0123456789abcdef01"),
        ("grafana_token", "glsa_abcdefghijklmnopqrstuvwxyz012345_0123abcd"),
        ("databricks_token", "dapi0123456789abcdef0123456789abcdef"),
        (
            "jwt",
            "Cookie: session=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ),
        ("basic_auth", "Authorization: Basic dXNlcjpwYXNzd29yZA=="),
        ("bearer_token", "authorization: Bearer 0a1b2c3d4e5f6a7b8c9d0e1f"),
        ("url_password", "DATABASE_URL=postgres://admin:S3cr3t!pw@db.internal:5432/app"),
        ("url_password", "git clone https://user:hunter2hunter2@git.example.com/repo.git"),
        ("connection_string_password", "Server=db;Database=app;User Id=sa;Password=Tr0ub4dor&3;"),
        ("cli_password", "curl -u admin:hunter2 https://api.internal/v1/users"),
        ("cli_password", "curl -s --user 'deploy:pa55w0rd' -X POST https://ci.internal/hook"),
        ("cli_password", "curl --user=bob:s3cret https://x.internal"),
        ("cli_password", "mysql -h db -u root -phunter2 app < dump.sql"),
        ("cli_password", "mysqldump --password=Sup3rS3cret --all-databases > all.sql"),
        ("cli_password", "cd /srv && PGPASSWORD=hunter2 psql -h db -U app -c 'select 1'"),
        ("cli_password", "MYSQL_PWD=letmein mysql -u root"),
        ("cli_password", "sshpass -p 'r00tpass' ssh root@10.0.0.5 uptime"),
        ("cli_password", "sshpass -p hunter2 scp -o StrictHostKeyChecking=no f host:"),
        ("env_secret", "export DB_PASSWORD=Xk9#mQ2$vL7p"),
        ("env_secret", "SESSION_SECRET='9f8Ga7Hd6Jk5Lm4N'"),
        ("secret_assignment", r#"config = {"client_secret": "q8Zr2Lp0Xv7Nw3Ks"}"#),
        ("secret_assignment", "password: \"Zx8!Lm2#Qp9$\""),
    ];

    #[test]
    fn each_secret_format_is_replaced_with_its_kind() {
        for (kind, text) in SECRETS {
            let out = redact(text);
            assert!(
                out.text.contains(&format!("[REDACTED:{kind}]")),
                "{kind} not redacted in {text:?}: {:?}",
                out.text
            );
            assert!(out.count() >= 1);
        }
        let kinds: std::collections::BTreeSet<&str> = SECRETS.iter().map(|(k, _)| *k).collect();
        assert!(kinds.len() >= 40, "{} formats", kinds.len());
    }

    #[test]
    fn the_secret_itself_is_gone_and_its_surroundings_stay() {
        let out = redact("DATABASE_URL=postgres://admin:S3cr3t!pw@db.internal:5432/app # prod");
        assert!(!out.text.contains("S3cr3t!pw"), "{}", out.text);
        assert!(
            out.text.contains("postgres://admin:[REDACTED:url_password]@db.internal:5432/app"),
            "{}",
            out.text
        );
        let out = redact(
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nregion = eu-west-1",
        );
        assert!(out.text.ends_with("region = eu-west-1"), "{}", out.text);
        assert!(!out.text.contains("wJalrXUtnFEMI"));
    }

    #[test]
    fn near_misses_survive() {
        for text in [
            "commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it",
            "request id 550e8400-e29b-41d4-a716-446655440000",
            "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "md5 d41d8cd98f00b204e9800998ecf8427e",
            "version 1.2.3-beta.4+build.5, rustc 1.95.0",
            "color: #ff00aa; background: #FFF;",
            "TOKEN_COUNT=512",
            "PASSWORD_MIN_LENGTH=12",
            "let password = read_password()?;",
            "token = next_token(&mut lexer)",
            "the password field must not be empty",
            "https://example.com/path?page=2",
            "ssh://git@github.com/org/repo.git",
            "export API_KEY=changeme",
            "SECRET_KEY=xxxxxxxxxxxx",
            "def test_token_is_refreshed(): pass",
            "skip-this-step and sk-1",
            "key-value store",
            "eyJ alone is not a token",
            "fn index(&self) -> usize { self.idx }",
            "docker run -u 1000:1000 -p 8080:80 image",
            "curl -u \"$API_USER:$API_PASS\" https://api.internal",
            "curl -u admin https://x.internal (it prompts for the password)",
            "mysql -h db -P 3306 -u root -p app",
            "mysql -u root --password app",
            "PGPASSWORD=$PGPASS psql -h db",
            "sshpass -f ~/.pw ssh host",
            "sshpass -e ssh -p 2222 host",
            "cp -p src dst && tar -u file",
        ] {
            let out = redact(text);
            assert_eq!(out.text, text, "changed: {:?}", out.found);
            assert_eq!(out.count(), 0);
        }
    }

    #[test]
    fn counts_add_up_and_redaction_is_idempotent() {
        let text = "a AKIAIOSFODNN7EXAMPLE b AKIAI44QH8DHBEXAMPLE c ghp_16C7e42F292c6912E7710c838347Ae178B4a";
        let once = redact(text);
        assert_eq!(once.found, vec![("aws_access_key", 2), ("github_token", 1)]);
        let twice = redact(&once.text);
        assert_eq!(twice.text, once.text);
        assert_eq!(twice.count(), 0);
    }

    #[test]
    fn policies_decide_what_is_redacted() {
        assert!(RedactPolicy::External.applies(true) && !RedactPolicy::External.applies(false));
        assert!(RedactPolicy::All.applies(false));
        assert!(!RedactPolicy::Off.applies(true));
        assert_eq!("all".parse::<RedactPolicy>(), Ok(RedactPolicy::All));
        assert!("some".parse::<RedactPolicy>().is_err());
    }
}
