#!/usr/bin/env python3
"""Prints the labelled set of problem pairs for insight reuse, as JSON lines.

- paraphrase: `stored` is the problem an insight was made for; `new` says the same problem in
  other words and another order. Reuse should find the stored insight.
- near-miss: `new` shares most of its words with `stored` but is a different problem (another
  module, file, function, number, direction or message). Reuse must not even consider it.

The paraphrases were written to avoid the stored problem's wording wherever plain English
allows; identifiers, file names and quoted messages stay as they are, because a user reporting
the same problem would quote the same ones. All pairs were written on 2026-11-27 before any
change to the matching was tried against them; pairs alternate, in the order written, between
the tuning half and the held-out half.

A second tuning set (`tuning-2`) was written on 2026-12-07, after the held-out half showed its
wrong reuses, and before any change was tried against it: near-misses that name nothing an
anchor can tell apart (the same subject, another symptom, direction or consequence), and
paraphrases that keep much of their problem's wording, which a stricter rule must still find.

A third tuning set (`tuning-3`) was written on 2026-12-07, later the same day, when the first two
no longer showed any wrong first candidate by meaning, and before any change was tried against
it: questions and reports that differ only in a plain word the anchors do not see (the
environment, the role, the platform, the format, the service or the time), and paraphrases that
turn a report into a question or a terse note into a long one.

    python3 scripts/reuse-pairs.py > /tmp/pairs.jsonl
"""

import json

PARAPHRASES = [
    ("Why does peek() panic on an empty stack?",
     "Calling peek when the stack holds no items crashes the program instead of returning None."),
    ("json.loads raises 'Expecting property name enclosed in double quotes' for an object with a "
     "trailing comma.",
     "Parsing {\"a\": 1,} with json.loads fails: 'Expecting property name enclosed in double "
     "quotes'. The comma after the last member seems to be the cause."),
    ("The invoice total is off by one cent when line items are rounded individually.",
     "Summing rounded line amounts gives a bill that differs by a penny from the real total."),
    ("What is the maximum line length enforced by the flake8 config in setup.cfg?",
     "How long may a line be before flake8 complains, according to setup.cfg?"),
    ("Login fails with 401 after the session cookie expires, even though the refresh token is "
     "valid.",
     "Once the session cookie times out, requests get 401 Unauthorized although a fresh token "
     "could be obtained with the still-valid refresh token."),
    ("The CSV export writes dates as MM/DD/YYYY but the importer expects ISO 8601.",
     "Our importer wants ISO 8601 dates, yet files from the CSV export contain month/day/year."),
    ("Memory keeps growing in the worker process because the LRU cache has no maxsize.",
     "The worker's resident memory climbs without bound; the least-recently-used cache was "
     "created without a size limit."),
    ("Sorting user names puts 'Zoe' before 'adam' because the comparison is case-sensitive.",
     "Names starting with capital letters are ordered ahead of lowercase ones, e.g. Zoe comes "
     "first and adam last, since sorting compares case."),
    ("How do I make retry_request back off exponentially instead of waiting a fixed 2 seconds?",
     "retry_request always sleeps 2 s between attempts; I want the delay to double each time."),
    ("The Dockerfile rebuilds all dependencies whenever any source file changes.",
     "Every edit to the code invalidates the image's dependency layer, so the build reinstalls "
     "packages from scratch each time."),
    ("parse_duration('1h30m') returns 30 minutes instead of 90.",
     "Given '1h30m', parse_duration yields only the minutes part, 30, rather than an hour and a "
     "half."),
    ("The websocket connection drops after exactly 60 seconds of inactivity behind nginx.",
     "Idle websocket clients are disconnected after one minute when traffic goes through the "
     "nginx proxy."),
    ("Unicode file names are mangled when the zip archive is opened on Windows.",
     "Archives we create show garbled names for non-ASCII files once extracted on a Windows "
     "machine."),
    ("The test suite is flaky because test_scheduler depends on the wall clock.",
     "test_scheduler passes or fails at random; it reads the real current time instead of a "
     "fixed one."),
    ("Why does the Rust build fail with 'borrowed value does not live long enough' in "
     "Config::load?",
     "Config::load does not compile: the compiler says 'borrowed value does not live long "
     "enough'. What is wrong with the lifetimes?"),
    ("The pagination endpoint returns duplicate rows when two records share the same "
     "created_at.",
     "Paging through results repeats some records; it happens when several rows have an "
     "identical created_at value."),
    ("Division by zero in average_rating when a product has no reviews.",
     "average_rating crashes for products nobody has reviewed yet: it divides by a count of "
     "zero."),
    ("The React component re-renders on every keystroke because the handler is recreated each "
     "render.",
     "Typing in the form causes the whole component to render again, since a fresh callback "
     "function is built on each render."),
    ("How should I store passwords instead of the unsalted SHA-1 used in create_user?",
     "create_user hashes passwords with plain SHA-1 and no salt; what is the right way to keep "
     "them?"),
    ("The nightly backup script silently skips files larger than 2 GB.",
     "Files above two gigabytes never make it into the nightly backups, and no error is "
     "printed."),
    ("Timezone conversion is wrong for dates before 1970 in to_local_time.",
     "to_local_time gives an incorrect offset for timestamps earlier than the Unix epoch."),
    ("The search box is vulnerable to SQL injection because the query is built with string "
     "formatting.",
     "User input from the search field is pasted into the SQL text with an f-string, so a quote "
     "character can change the statement."),
    ("Why does the Go server leak goroutines when clients disconnect early?",
     "When a client hangs up before the response is finished, goroutines in our Go service are "
     "never released."),
    ("The config loader ignores environment variables that are set to an empty string.",
     "Setting a variable to '' in the environment has no effect; the settings reader treats it "
     "as unset."),
    ("Float prices like 0.1 + 0.2 show as 0.30000000000000004 on the receipt.",
     "Receipts print 0.30000000000000004 instead of 0.30 when two prices are added."),
    ("The cron job runs twice at the daylight saving time change.",
     "When clocks go back in autumn, our scheduled task fires two times in the same night."),
    ("Uploading an image over 10 MB returns 413 from the API gateway.",
     "Big pictures, more than ten megabytes, are rejected with status 413 Payload Too Large."),
    ("The merge function loses keys from the second dict when both have nested dicts.",
     "Combining two dictionaries whose values are themselves dictionaries drops entries from the "
     "right-hand one."),
    ("How can I speed up the slow N+1 queries in the orders list view?",
     "The orders page issues one database query per order to fetch its customer; how do I avoid "
     "that?"),
    ("The logger writes each message twice after calling setup_logging a second time.",
     "Every log line appears two times once setup_logging has been invoked again."),
    ("Thread pool deadlocks when a task submits another task and waits for it.",
     "Our executor hangs if a job schedules a sub-job on the same pool and blocks on its "
     "result."),
    ("The PDF generator cuts off text that does not fit on the last page.",
     "Content overflowing the final page of the generated PDF simply disappears."),
    ("Why is the regex ^\\d+$ matching '12\\n'?",
     "A pattern anchored with ^ and $ for digits accepts '12' followed by a newline; why?"),
    ("The mobile layout overflows horizontally because the table has a fixed width of 1200px.",
     "On phones the page scrolls sideways; the table is hard-coded to 1200 pixels wide."),
    ("Emails are sent twice when the payment webhook is retried.",
     "If the payment provider redelivers its webhook, customers receive the confirmation mail "
     "a second time."),
    ("The CLI's --verbose flag has no effect on subcommands.",
     "Passing --verbose does nothing once a subcommand is used; output stays quiet."),
    ("Reading a UTF-8 file with a BOM leaves '\\ufeff' at the start of the first column name.",
     "The first header of the spreadsheet export starts with an invisible '\\ufeff' character "
     "when the file has a byte order mark."),
    ("Kubernetes kills the pod with OOMKilled during the nightly report job.",
     "The report pod is terminated for exceeding its memory limit (OOMKilled) every night."),
    ("The cache key ignores the user's locale, so French users see English pages.",
     "Pages cached for English readers are served to French visitors because language isn't "
     "part of the key."),
    ("Why does git diff show every line changed after I edited the file on Windows?",
     "After saving the file on a Windows machine, the diff marks the whole file as modified; "
     "probably line endings."),
    ("The inventory count goes negative when two orders are placed at the same time.",
     "Simultaneous purchases can drive stock below zero; there seems to be a race between "
     "orders."),
    ("The password reset link works more than once.",
     "A reset token can be reused; clicking the same link again lets you change the password a "
     "second time."),
    ("compute_tax applies the 20% rate to amounts that should be exempt.",
     "Tax-exempt amounts still get charged 20 percent by compute_tax."),
    ("The chart's x-axis labels overlap when there are more than 30 data points.",
     "With over thirty points plotted, the labels along the horizontal axis run into each "
     "other."),
    ("The API returns 500 instead of 404 when the user id does not exist.",
     "Requesting a non-existent user id yields an internal server error rather than not found."),
    ("Why does my async function never run when I call it without await?",
     "I call an async function but nothing happens unless I await it; why is the body skipped?"),
    ("The import script treats 'N/A' in the price column as a number and crashes.",
     "Rows where price is 'N/A' make the importer fail while converting to a number."),
    ("Hot reload stops working after adding a symlinked package to the monorepo.",
     "Since we linked a package into the monorepo via a symbolic link, the dev server no longer "
     "reloads on changes."),
    ("The rate limiter lets through twice the allowed requests at the window boundary.",
     "Around the moment the fixed window resets, clients can send double the permitted number "
     "of calls."),
    ("Deleting a folder in the file manager does not delete its thumbnails from the cache.",
     "Thumbnails of a removed directory stay in the cache after the directory is deleted."),
]

NEAR_MISSES = [
    ("What is the maximum line length enforced by the flake8 config in setup.cfg?",
     "What is the maximum line length enforced by the black config in pyproject.toml?"),
    ("What is the maximum line length in textwrap's default width?",
     "What is the maximum line length in pprint's default width?"),
    ("json.loads raises 'Expecting property name enclosed in double quotes' for an object with a "
     "trailing comma.",
     "json.loads raises 'Expecting value' for an array with a trailing comma."),
    ("Why does peek() panic on an empty stack?", "Why does pop() panic on an empty queue?"),
    ("parse_duration('1h30m') returns 30 minutes instead of 90.",
     "parse_duration('90s') returns 90 minutes instead of 1.5."),
    ("The invoice total is off by one cent when line items are rounded individually.",
     "The invoice total is off by one day when line items are dated individually."),
    ("Login fails with 401 after the session cookie expires, even though the refresh token is "
     "valid.",
     "Login fails with 403 after the password changes, even though the refresh token is valid."),
    ("The CSV export writes dates as MM/DD/YYYY but the importer expects ISO 8601.",
     "The JSON export writes amounts as strings but the importer expects numbers."),
    ("Memory keeps growing in the worker process because the LRU cache has no maxsize.",
     "Memory keeps growing in the web process because the session store never expires entries."),
    ("Sorting user names puts 'Zoe' before 'adam' because the comparison is case-sensitive.",
     "Sorting file names puts 'file10' before 'file2' because the comparison is lexicographic."),
    ("How do I make retry_request back off exponentially instead of waiting a fixed 2 seconds?",
     "How do I make retry_upload give up after 5 attempts instead of retrying forever?"),
    ("The websocket connection drops after exactly 60 seconds of inactivity behind nginx.",
     "The websocket connection drops after exactly 100 seconds of inactivity behind Cloudflare."),
    ("Unicode file names are mangled when the zip archive is opened on Windows.",
     "Unicode file names are mangled when the tar archive is extracted on macOS."),
    ("The test suite is flaky because test_scheduler depends on the wall clock.",
     "The test suite is flaky because test_downloader depends on the network."),
    ("Why does the Rust build fail with 'borrowed value does not live long enough' in "
     "Config::load?",
     "Why does the Rust build fail with 'cannot move out of borrowed content' in "
     "Config::save?"),
    ("The pagination endpoint returns duplicate rows when two records share the same "
     "created_at.",
     "The pagination endpoint returns no rows when the page size is larger than the total."),
    ("Division by zero in average_rating when a product has no reviews.",
     "Division by zero in conversion_rate when a campaign has no visitors."),
    ("How should I store passwords instead of the unsalted SHA-1 used in create_user?",
     "How should I store API keys instead of the plain text used in create_token?"),
    ("The nightly backup script silently skips files larger than 2 GB.",
     "The nightly backup script silently skips files with spaces in their names."),
    ("Timezone conversion is wrong for dates before 1970 in to_local_time.",
     "Timezone conversion is wrong for dates after 2038 in to_utc_time."),
    ("Float prices like 0.1 + 0.2 show as 0.30000000000000004 on the receipt.",
     "Float weights like 1.1 * 3 show as 3.3000000000000003 on the shipping label."),
    ("The cron job runs twice at the daylight saving time change.",
     "The cron job never runs on February 29."),
    ("Uploading an image over 10 MB returns 413 from the API gateway.",
     "Uploading an image over 10 MB returns 504 from the API gateway after 30 seconds."),
    ("The merge function loses keys from the second dict when both have nested dicts.",
     "The merge function loses items from the second list when both have duplicates."),
    ("The logger writes each message twice after calling setup_logging a second time.",
     "The logger writes no message at all after calling setup_metrics a second time."),
    ("Thread pool deadlocks when a task submits another task and waits for it.",
     "Process pool crashes when a task returns a lambda that cannot be pickled."),
    ("Why is the regex ^\\d+$ matching '12\\n'?", "Why is the regex ^\\w+$ not matching 'héllo'?"),
    ("The mobile layout overflows horizontally because the table has a fixed width of 1200px.",
     "The mobile layout overflows vertically because the modal has a fixed height of 900px."),
    ("Emails are sent twice when the payment webhook is retried.",
     "Emails are never sent when the refund webhook arrives before the order is saved."),
    ("The CLI's --verbose flag has no effect on subcommands.",
     "The CLI's --quiet flag has no effect on error messages."),
    ("Kubernetes kills the pod with OOMKilled during the nightly report job.",
     "Kubernetes restarts the pod with CrashLoopBackOff during the nightly report job."),
    ("The cache key ignores the user's locale, so French users see English pages.",
     "The cache key ignores the user's role, so guests see admin pages."),
    ("The inventory count goes negative when two orders are placed at the same time.",
     "The inventory count goes negative when an order is cancelled twice."),
    ("compute_tax applies the 20% rate to amounts that should be exempt.",
     "compute_discount applies the 20% rate to amounts below the minimum order."),
    ("The API returns 500 instead of 404 when the user id does not exist.",
     "The API returns 404 instead of 400 when the user id is not a number."),
    ("The import script treats 'N/A' in the price column as a number and crashes.",
     "The import script treats '0' in the quantity column as missing and skips the row."),
    ("The rate limiter lets through twice the allowed requests at the window boundary.",
     "The rate limiter blocks all requests after the Redis connection drops."),
    ("What does the timeout setting in requests.get default to?",
     "What does the timeout setting in urllib.request.urlopen default to?"),
    ("How many retries does the S3 client make by default in boto3?",
     "How many retries does the DynamoDB client make by default in boto3?"),
    ("What port does the PostgreSQL server in docker-compose.yml listen on?",
     "What port does the Redis server in docker-compose.yml listen on?"),
    ("The unit price of SKU-1042 in prices.csv is wrong.",
     "The unit price of SKU-2077 in prices.csv is wrong."),
    ("Which Python version does the project's tox.ini test against?",
     "Which Node version does the project's .nvmrc pin?"),
    ("What is the default chunk size used by read_blocks in storage.py?",
     "What is the default chunk size used by write_blocks in upload.py?"),
    ("The function html.escape does not escape single quotes when quote=False.",
     "The function xml.sax.saxutils.escape does not escape double quotes by default."),
    ("Why does textwrap.fill drop trailing whitespace?",
     "Why does textwrap.dedent keep trailing whitespace?"),
    ("Error 'ModuleNotFoundError: No module named yaml' when running deploy.py.",
     "Error 'ModuleNotFoundError: No module named toml' when running release.py."),
    ("The checkout page shows prices in USD for customers in Germany.",
     "The checkout page shows prices in EUR for customers in Japan."),
    ("The mean of [1, 2, 3] from stats.average is 2.5 instead of 2.",
     "The median of [1, 2, 3, 4] from stats.middle is 2 instead of 2.5."),
    ("Set the default page size of the list_users endpoint to 50.",
     "Set the default page size of the list_orders endpoint to 25."),
    ("The HTTP client in fetch.js does not follow redirects beyond 5 hops.",
     "The HTTP client in fetch.js does not send cookies on cross-origin requests."),
]


# tuning-2, written 2026-12-07 (see the docstring).
FRESH_PARAPHRASES = [
    ("The rate limiter lets every request through when the counter key expires.",
     "When the counter key expires, the rate limiter lets all requests through."),
    ("The background job runs twice when the scheduler restarts.",
     "After the scheduler restarts, the background job runs two times."),
    ("The cache returns stale values after a write to the database.",
     "After writing to the database, the cache still returns the old values."),
    ("The checkout button stays disabled after the address form is filled in.",
     "Even with the address form filled in, the checkout button remains disabled."),
    ("Notifications arrive twice on phones that have the app open.",
     "Phones with the app open get every notification twice."),
    ("The mobile menu opens but cannot be closed by tapping outside it.",
     "Tapping outside the mobile menu does not close it once it is open."),
    ("The log file grows without limit because rotation never triggers.",
     "Rotation never triggers, so the log file keeps growing without limit."),
    ("The progress bar jumps backwards while a large file is copied.",
     "While copying a large file, the progress bar sometimes goes backwards."),
    ("Images are uploaded rotated sideways when taken in portrait mode.",
     "Photos taken in portrait mode end up rotated sideways after upload."),
    ("The API returns results sorted oldest first although the docs say newest first.",
     "Although the docs promise newest first, the API sorts results oldest first."),
]

FRESH_NEAR_MISSES = [
    ("The rate limiter lets every request through when the counter key expires.",
     "The rate limiter rejects every request when the counter key expires."),
    ("The upload form accepts files larger than the configured limit.",
     "The upload form rejects files smaller than the configured limit."),
    ("The search results page shows duplicate entries after pagination.",
     "The search results page shows missing entries after pagination."),
    ("The background job runs twice when the scheduler restarts.",
     "The background job never runs after the scheduler restarts."),
    ("The password reset email is sent to the old address after the user changes it.",
     "The password reset email is never sent after the user changes the address."),
    ("The cache returns stale values after a write to the database.",
     "The cache returns empty values after a restart of the database."),
    ("The progress bar jumps backwards while a large file is copied.",
     "The progress bar freezes at the start while a large file is copied."),
    ("The dark theme is applied to the settings page but not to the dialogs.",
     "The dark theme is applied to the dialogs but resets on the settings page."),
    ("Dates in the report are shown one day early for users west of the server's time zone.",
     "Dates in the report are shown in the server's time zone instead of the user's."),
    ("The checkout button stays disabled after the address form is filled in.",
     "The checkout button is enabled before the address form is filled in."),
    ("The log file grows without limit because rotation never triggers.",
     "The log file is truncated at every start because rotation triggers too early."),
    ("Notifications arrive twice on phones that have the app open.",
     "Notifications never arrive on phones that have the app closed."),
    ("The import script skips the header row and loses the first record.",
     "The import script reads the header row as a record and fails on its types."),
    ("The API returns results sorted oldest first although the docs say newest first.",
     "The API returns results in random order although the docs say newest first."),
    ("The mobile menu opens but cannot be closed by tapping outside it.",
     "The mobile menu closes as soon as it is opened by a tap."),
    ("The build succeeds locally but the deployed site serves an old stylesheet.",
     "The build fails locally but the deployed site serves the new stylesheet."),
    ("Search treats accented and plain letters as different, so a query for cafe misses café.",
     "Search treats accented and plain letters as the same, so a query for resume also finds "
     "résumé."),
    ("The export finishes but the file is empty when the table has more than a page of rows.",
     "The export never finishes when the table has more than a page of rows."),
    ("The session ends too early while the user is still typing in the editor.",
     "The session never ends while the editor tab stays open in the background."),
    ("Images are uploaded rotated sideways when taken in portrait mode.",
     "Images are uploaded blurry when taken in low light."),
]


THIRD_PARAPHRASES = [
    ("What port does the billing service listen on in production?",
     "In prod, which port is the billing service bound to?"),
    ("Nightly backups of the orders database fail with 'disk full' on the backup host.",
     "The backup host runs out of space every night, so the orders database dump aborts with "
     "'disk full'."),
    ("How many worker processes does the image resizer start by default?",
     "By default, the image resizer spawns how many workers?"),
    ("Admins cannot delete archived projects; the button is greyed out.",
     "The delete button stays disabled for administrators when a project is archived."),
    ("Push notifications are not delivered on Android 14 after the app is force-stopped.",
     "Once the app has been force-stopped, Android 14 devices no longer receive its push "
     "messages."),
    ("The PDF invoice shows the tax line twice when a discount code is applied.",
     "Applying a discount code makes the invoice PDF list VAT two times."),
    ("Which environment variable sets the log level of the scheduler?",
     "How do I change how verbose the scheduler's logging is through the environment?"),
    ("Search results on the help center ignore the language the visitor selected.",
     "A visitor picks a language, yet the help center search still returns articles in every "
     "language."),
    ("Uploading a file larger than 2 GB stalls at 99%.",
     "Big uploads, over two gigabytes, hang just before completing."),
    ("The staging deploy times out while waiting for database migrations to finish.",
     "On staging, the deployment gives up because the schema migrations take too long."),
    ("Why is the cart emptied when a guest logs in during checkout?",
     "Signing in halfway through checkout as a guest wipes the items from the basket."),
    ("What is the default session timeout for the admin console?",
     "How long can the admin console sit idle before it logs you out, by default?"),
    ("CSV exports open with broken accents in Excel because the file has no byte order mark.",
     "Excel garbles accented letters in our exported CSV files; they are written without a "
     "BOM."),
    ("The dark theme makes disabled buttons unreadable.",
     "With the dark colour scheme on, greyed-out buttons can hardly be read."),
    ("Scheduled emails go out an hour late after the switch to daylight saving time.",
     "Since clocks moved forward, every scheduled email is sent sixty minutes after its time."),
    ("Which timeout applies to requests from the gateway to the inventory service?",
     "How long does the gateway wait for the inventory service before giving up on a call?"),
    ("The mobile app crashes on launch when the device language is Arabic.",
     "Starting the app on a phone set to Arabic makes it close immediately."),
    ("Rate limiting blocks the health checks of the load balancer.",
     "Our load balancer's health probes get throttled by the rate limiter and fail."),
    ("What retention period applies to audit logs in the EU region?",
     "For how long are audit logs kept in the European region?"),
    ("Password reset links expire before users can open them because the token lifetime is "
     "set in seconds, not minutes.",
     "Users find their reset link already dead: the token's lifetime was configured as seconds "
     "where minutes were meant."),
]

THIRD_NEAR_MISSES = [
    ("What port does the billing service listen on in production?",
     "What port does the billing service listen on in staging?"),
    ("What port does the billing service listen on in production?",
     "What port does the shipping service listen on in production?"),
    ("How many worker processes does the image resizer start by default?",
     "How many worker processes does the video transcoder start by default?"),
    ("How many worker processes does the image resizer start by default?",
     "How many threads does each image resizer worker process start by default?"),
    ("Admins cannot delete archived projects; the button is greyed out.",
     "Guests cannot view archived projects; the page is blank."),
    ("Admins cannot delete archived projects; the button is greyed out.",
     "Admins cannot rename archived projects; the field is read-only."),
    ("Push notifications are not delivered on Android 14 after the app is force-stopped.",
     "Push notifications are not delivered on iOS 17 after the app is force-stopped."),
    ("The PDF invoice shows the tax line twice when a discount code is applied.",
     "The HTML receipt shows the tax line twice when a gift card is applied."),
    ("The PDF invoice shows the tax line twice when a discount code is applied.",
     "The PDF invoice omits the tax line when a discount code is applied."),
    ("Which environment variable sets the log level of the scheduler?",
     "Which environment variable sets the log level of the mailer?"),
    ("Which environment variable sets the log level of the scheduler?",
     "Which environment variable sets the time zone of the scheduler?"),
    ("Uploading a file larger than 2 GB stalls at 99%.",
     "Downloading a file larger than 2 GB stalls at 99%."),
    ("The staging deploy times out while waiting for database migrations to finish.",
     "The production deploy times out while waiting for the cache to warm up."),
    ("The staging deploy times out while waiting for database migrations to finish.",
     "The staging deploy succeeds but the database migrations are never run."),
    ("Why is the cart emptied when a guest logs in during checkout?",
     "Why is the wishlist emptied when a member logs out after checkout?"),
    ("What is the default session timeout for the admin console?",
     "What is the default session timeout for the customer portal?"),
    ("What is the default session timeout for the admin console?",
     "What is the maximum number of sessions per user for the admin console?"),
    ("CSV exports open with broken accents in Excel because the file has no byte order mark.",
     "CSV imports fail in Excel because the file uses semicolons instead of commas."),
    ("The dark theme makes disabled buttons unreadable.",
     "The high-contrast theme makes links unreadable."),
    ("Scheduled emails go out an hour late after the switch to daylight saving time.",
     "Scheduled reports go out a day late at the end of each month."),
    ("Which timeout applies to requests from the gateway to the inventory service?",
     "Which timeout applies to requests from the inventory service to the database?"),
    ("Which timeout applies to requests from the gateway to the inventory service?",
     "Which retry policy applies to requests from the gateway to the inventory service?"),
    ("The mobile app crashes on launch when the device language is Arabic.",
     "The desktop app crashes on exit when the system language is Japanese."),
    ("Rate limiting blocks the health checks of the load balancer.",
     "Authentication blocks the health checks of the load balancer."),
    ("What retention period applies to audit logs in the EU region?",
     "What retention period applies to access logs in the US region?"),
    ("What retention period applies to audit logs in the EU region?",
     "Who can read the audit logs in the EU region?"),
    ("Password reset links expire before users can open them because the token lifetime is "
     "set in seconds, not minutes.",
     "Email verification links never expire because the token lifetime is never checked."),
    ("Nightly backups of the orders database fail with 'disk full' on the backup host.",
     "Nightly backups of the customers database succeed but cannot be restored on the backup "
     "host."),
    ("Search results on the help center ignore the language the visitor selected.",
     "Search results on the help center ignore the product category the visitor selected."),
    ("Search results on the help center ignore the language the visitor selected.",
     "The help center's contact form ignores the language the visitor selected."),
]


def main():
    n = 0
    halves = ("tuning", "held-out")
    for kind, pairs in (("paraphrase", PARAPHRASES), ("near-miss", NEAR_MISSES)):
        for i, (stored, new) in enumerate(pairs):
            n += 1
            print(json.dumps({"id": n, "kind": kind, "half": halves[i % 2], "stored": stored,
                              "new": new}, ensure_ascii=False))
    for kind, pairs in (("paraphrase", FRESH_PARAPHRASES), ("near-miss", FRESH_NEAR_MISSES)):
        for stored, new in pairs:
            n += 1
            print(json.dumps({"id": n, "kind": kind, "half": "tuning-2", "stored": stored,
                              "new": new}, ensure_ascii=False))
    for kind, pairs in (("paraphrase", THIRD_PARAPHRASES), ("near-miss", THIRD_NEAR_MISSES)):
        for stored, new in pairs:
            n += 1
            print(json.dumps({"id": n, "kind": kind, "half": "tuning-3", "stored": stored,
                              "new": new}, ensure_ascii=False))


main()
