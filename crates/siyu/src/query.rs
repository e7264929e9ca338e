//! `siyu query …`: analytics answers on the command line, as a table or as one JSON object.

use anyhow::Context;
use siyu_analytics::Granularity;
use siyu_domain::Services;
use siyu_domain::access::Principal;
use siyu_domain::events::EventIndex;
use siyu_domain::events::analytics::{
    Attribution, FunnelAnswer, FunnelOptions, KpiAnswer, PathsAnswer, RetentionAnswer, RfmAnswer, SegmentationAnswer,
    SegmentationOptions, SeriesSpec,
};
use siyu_domain::events::filters::{parse_filter, parse_step_filter};

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON object on stdout.
    Json,
}

/// An analytics query.
#[derive(clap::Subcommand, Debug)]
pub enum QueryCommand {
    /// Funnel with ClickHouse windowFunnel semantics: customers reaching at least each step.
    Funnel {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// Steps, comma-separated event names (at least 2).
        #[arg(long)]
        steps: String,
        /// Conversion window from the first step: e.g. 7d, 12h, 30m, 90s.
        #[arg(long, default_value = "7d")]
        window: String,
        /// A property filter on one step, STEP:FILTER, e.g. "2:category = shoes" or "4:revenue >= 100"
        /// (operators = != > >= < <= in !in contains !contains exists !exists); repeatable.
        #[arg(long = "filter", value_name = "STEP:FILTER")]
        filters: Vec<String>,
        /// Break the funnel down by this property (of the step-1 event unless --attribution says otherwise).
        #[arg(long)]
        breakdown: Option<String>,
        /// With --breakdown: which step's event gives a customer's value: first (default), last (the
        /// last step they reached) or "step N" (customers who stopped before it count under "(none)").
        #[arg(long, default_value = "first", value_parser = parse_attribution)]
        attribution: Attribution,
        /// With --breakdown: how many values to list (default 20).
        #[arg(long)]
        limit: Option<usize>,
        /// Time zone (default: the workspace's).
        #[arg(long)]
        tz: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Retention matrix: cohorts by first event, share returning in each later period.
    Retention {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// day, week (Monday weeks) or month.
        #[arg(long, default_value = "week")]
        period: String,
        /// Event that starts a cohort (default: any event, i.e. first seen).
        #[arg(long)]
        cohort_event: Option<String>,
        /// Event that counts as a return (default: any event).
        #[arg(long)]
        return_event: Option<String>,
        /// Time zone (default: the workspace's).
        #[arg(long)]
        tz: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Event segmentation: counts, customers and order revenue per day, week or month.
    Segmentation {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// Events, comma-separated (one series each).
        #[arg(long)]
        events: String,
        /// A property filter every series shares, e.g. "channel = wecom"; repeatable.
        #[arg(long = "filter", value_name = "FILTER")]
        filters: Vec<String>,
        /// A numeric property to sum and average in every series, e.g. revenue.
        #[arg(long)]
        measure: Option<String>,
        /// Break every series down by this property.
        #[arg(long)]
        breakdown: Option<String>,
        /// With --breakdown: values per series (default 10).
        #[arg(long)]
        limit: Option<usize>,
        /// day, week or month.
        #[arg(long, default_value = "day")]
        period: String,
        /// First local date (YYYY-MM-DD; default: the first day with events).
        #[arg(long)]
        from: Option<String>,
        /// Last local date (default: the last day with events).
        #[arg(long)]
        to: Option<String>,
        /// Time zone (default: the workspace's).
        #[arg(long)]
        tz: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Paths: the most frequent next (or previous) events after (before) an event.
    Paths {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// The anchor event.
        #[arg(long)]
        event: String,
        /// next or previous.
        #[arg(long, default_value = "next")]
        direction: String,
        /// Steps from the anchor (1 to 10).
        #[arg(long, default_value_t = 3)]
        depth: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// KPIs: DAU/WAU/MAU, new customers, D1/D7/D30 retention, repurchase rate, GMV, ARPU, rates.
    Kpi {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// The local date (YYYY-MM-DD; default: the day of the latest event).
        #[arg(long)]
        as_of: Option<String>,
        /// Time zone (default: the workspace's).
        #[arg(long)]
        tz: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// RFM quintile scores from orders: customers per (r, f, m).
    Rfm {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// Measure recency to this instant (RFC 3339; default: the latest event).
        #[arg(long)]
        as_of: Option<String>,
        /// Time zone (default: the workspace's; recency counts whole 24-hour days).
        #[arg(long)]
        tz: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

fn time_zone(name: Option<&str>, workspace_tz: &str) -> anyhow::Result<jiff::tz::TimeZone> {
    let name = name.unwrap_or(workspace_tz);
    jiff::tz::TimeZone::get(name).with_context(|| format!("unknown time zone \"{name}\""))
}

fn parse_attribution(text: &str) -> Result<Attribution, String> {
    Attribution::parse(text)
}

async fn index_of(services: &Services, slug: &str) -> anyhow::Result<(std::sync::Arc<EventIndex>, String)> {
    let ws = services.access.workspace_by_slug(slug).await?;
    let index = services.events.event_index(&Principal::cli(ws.id)).await?;
    Ok((index, ws.time_zone))
}

/// Returns the workspace's passive events (its model settings): what activity measures leave out.
async fn passive_of(services: &Services, slug: &str) -> anyhow::Result<Vec<String>> {
    let ws = services.access.workspace_by_slug(slug).await?;
    Ok(services.models.model_settings(&Principal::cli(ws.id)).await?.passive_events)
}

/// Runs a query and prints its answer.
pub async fn run(services: &Services, command: QueryCommand) -> anyhow::Result<()> {
    match command {
        QueryCommand::Funnel { workspace, steps, window, filters, breakdown, attribution, limit, tz, format } => {
            let steps: Vec<String> = steps.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
            let window = siyu_domain::events::analytics::parse_window(&window)?;
            let mut options = FunnelOptions { breakdown, attribution, limit: limit.unwrap_or(0), ..Default::default() };
            for text in &filters {
                let (step, filter) = parse_step_filter("filter", text)?;
                let step = step
                    .with_context(|| format!("--filter \"{text}\": expected STEP:FILTER, e.g. 2:category = shoes"))?;
                options.add_filter(steps.len(), Some(step), filter);
            }
            let (index, workspace_tz) = index_of(services, &workspace).await?;
            time_zone(tz.as_deref(), &workspace_tz)?;
            let answer = index.funnel(&steps, window, &options)?;
            show(format, &answer, print_funnel)?;
        }
        QueryCommand::Retention { workspace, period, cohort_event, return_event, tz, format } => {
            let granularity = Granularity::parse(&period)
                .with_context(|| format!("period \"{period}\": expected day, week or month"))?;
            let (index, workspace_tz) = index_of(services, &workspace).await?;
            let tz = time_zone(tz.as_deref(), &workspace_tz)?;
            let answer = index.retention(
                &tz,
                granularity,
                (cohort_event.as_deref(), return_event.as_deref()),
                siyu_domain::events::analytics::Dates::all(services.now().as_microsecond()),
                &passive_of(services, &workspace).await?,
            )?;
            show(format, &answer, print_retention)?;
        }
        QueryCommand::Segmentation {
            workspace,
            events,
            filters,
            measure,
            breakdown,
            limit,
            period,
            from,
            to,
            tz,
            format,
        } => {
            let granularity = Granularity::parse(&period)
                .with_context(|| format!("period \"{period}\": expected day, week or month"))?;
            let date = |t: Option<String>| {
                t.map(|t| t.parse::<jiff::civil::Date>().with_context(|| format!("\"{t}\" is not a date (YYYY-MM-DD)")))
                    .transpose()
            };
            let (from, to) = (date(from)?, date(to)?);
            let series: Vec<SeriesSpec> = events
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|event| SeriesSpec { measure: measure.clone(), ..SeriesSpec::from(event) })
                .collect();
            let filters = filters
                .iter()
                .map(|f| parse_filter("filter", f))
                .collect::<siyu_domain::error::DomainResult<Vec<_>>>()?;
            let options = SegmentationOptions { filters, breakdown, limit: limit.unwrap_or(0) };
            let (index, workspace_tz) = index_of(services, &workspace).await?;
            let tz = time_zone(tz.as_deref(), &workspace_tz)?;
            let dates = siyu_domain::events::analytics::Dates::between(from, to, services.now().as_microsecond());
            let answer = index.segmentation(&tz, granularity, &series, &options, dates)?;
            show(format, &answer, print_segmentation)?;
        }
        QueryCommand::Paths { workspace, event, direction, depth, format } => {
            let (index, _) = index_of(services, &workspace).await?;
            let answer = index.paths(&event, &direction, depth)?;
            show(format, &answer, |answer| print_paths(answer, &direction))?;
        }
        QueryCommand::Kpi { workspace, as_of, tz, format } => {
            let as_of = as_of
                .map(|t| t.parse::<jiff::civil::Date>().with_context(|| format!("\"{t}\" is not a date (YYYY-MM-DD)")))
                .transpose()?;
            let (index, workspace_tz) = index_of(services, &workspace).await?;
            let tz = time_zone(tz.as_deref(), &workspace_tz)?;
            let passive = passive_of(services, &workspace).await?;
            let answer = index.kpis(&tz, as_of, services.now().as_microsecond(), &passive)?;
            show(format, &answer, print_kpis)?;
        }
        QueryCommand::Rfm { workspace, as_of, tz, format } => {
            let as_of_us = as_of
                .map(|t| t.parse::<jiff::Timestamp>().with_context(|| format!("as-of \"{t}\": expected RFC 3339")))
                .transpose()?
                .map(|t| t.as_microsecond());
            let (index, workspace_tz) = index_of(services, &workspace).await?;
            time_zone(tz.as_deref(), &workspace_tz)?;
            let answer = index.rfm(as_of_us, services.now().as_microsecond())?;
            show(format, &answer, print_rfm)?;
        }
    }
    Ok(())
}

fn human_seconds(seconds: f64) -> String {
    match seconds {
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 7_200.0 => format!("{:.1} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3_600.0),
        s => format!("{:.1} d", s / 86_400.0),
    }
}

/// Prints an answer as JSON, or as the table `table` draws.
fn show<T: serde::Serialize>(
    format: Format,
    answer: &T,
    table: impl FnOnce(&T) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            println!("{}", serde_json::to_string(answer)?);
            Ok(())
        }
        Format::Table => table(answer),
    }
}

fn print_funnel(answer: &FunnelAnswer) -> anyhow::Result<()> {
    println!("{:>4}  {:<28} {:>12} {:>9} {:>9} {:>14}", "step", "event", "customers", "overall", "step", "median time");
    for s in &answer.steps {
        let median = s.median_seconds_to_convert.map_or("-".to_string(), human_seconds);
        println!(
            "{:>4}  {:<28} {:>12} {:>8.1}% {:>8.1}% {:>14}",
            s.step,
            s.event,
            s.customers,
            s.conversion_rate * 100.0,
            s.step_conversion_rate * 100.0,
            median
        );
    }
    if let Some(breakdown) = &answer.breakdown {
        let source = match breakdown.attribution {
            Attribution::First => "step-1 event".to_string(),
            Attribution::Last => "event of the last step reached".to_string(),
            Attribution::Step(n) => format!("step-{n} event"),
        };
        println!("\nby {} ({source}):", breakdown.property);
        for group in &breakdown.groups {
            let counts: Vec<String> = group.customers.iter().map(u64::to_string).collect();
            println!(
                "  {:<28} {:>8.1}%  {}",
                group.value.as_deref().unwrap_or("(none)"),
                group.conversion_rate * 100.0,
                counts.join(" > ")
            );
        }
        if breakdown.more_groups > 0 {
            println!("  … {} more values", breakdown.more_groups);
        }
    }
    Ok(())
}

fn print_retention(answer: &RetentionAnswer) -> anyhow::Result<()> {
    let periods = answer.rows.iter().map(|r| r.period).max().map_or(0, |p| p + 1);
    print!("{:<12} {:>9}", "cohort", "customers");
    for p in 1..periods {
        print!(" {:>6}", format!("+{p}"));
    }
    println!();
    let mut rows = answer.rows.iter().peekable();
    while let Some(first) = rows.next() {
        print!("{:<12} {:>9}", first.cohort, first.customers);
        let mut next_period = 1;
        while let Some(row) = rows.next_if(|r| r.cohort == first.cohort) {
            for _ in next_period..row.period {
                print!(" {:>6}", "");
            }
            print!(" {:>5.1}%", row.rate * 100.0);
            next_period = row.period + 1;
        }
        println!();
    }
    Ok(())
}

fn print_segmentation(answer: &SegmentationAnswer) -> anyhow::Result<()> {
    print!("{:<12}", "bucket");
    for s in &answer.series {
        let mut title = s.event.clone();
        if let Some(value) = &s.breakdown_value {
            title = format!("{title} [{}]", value.as_deref().unwrap_or("(none)"));
        }
        let cells = if s.measure.is_some() { "n/cust/sum" } else { "n/cust" };
        print!(" {:>28}", format!("{title} ({cells})"));
    }
    println!();
    for (i, bucket) in answer.buckets.iter().enumerate() {
        print!("{bucket:<12}");
        for s in &answer.series {
            let mut cell = format!("{}/{}", s.counts[i], s.customers[i]);
            if let Some(sums) = &s.sums {
                cell = format!("{cell}/{}", sums[i]);
            }
            print!(" {cell:>28}");
        }
        println!();
    }
    Ok(())
}

fn print_paths(answer: &PathsAnswer, direction: &str) -> anyhow::Result<()> {
    println!("{} customers did {} ({direction})", answer.customers, answer.event);
    for link in answer.links.iter().take(60) {
        // Arrows follow time: going back from the anchor, `to` happened before `from`.
        let (earlier, later) = if direction == "previous" { (&link.to, &link.from) } else { (&link.from, &link.to) };
        println!("{:>4}  {:<28} -> {:<28} {:>10}", link.step, earlier, later, link.customers);
    }
    Ok(())
}

fn print_kpis(answer: &KpiAnswer) -> anyhow::Result<()> {
    let value = serde_json::to_value(answer)?;
    for (key, v) in value.as_object().into_iter().flatten() {
        println!("{key:<24} {v}");
    }
    Ok(())
}

fn print_rfm(answer: &RfmAnswer) -> anyhow::Result<()> {
    println!("{} customers with orders, recency to {}", answer.customers, answer.as_of.as_deref().unwrap_or("-"));
    println!("{:>2} {:>2} {:>2} {:>10}", "r", "f", "m", "customers");
    for c in &answer.cells {
        println!("{:>2} {:>2} {:>2} {:>10}", c.r, c.f, c.m, c.customers);
    }
    Ok(())
}
