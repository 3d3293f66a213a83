//! The cost report: what a hub's shared endpoints cost per month against the same services as
//! endpoints in every attached spoke VPC, and the monthly saving.
//!
//! [`compute`] is a pure function of the hub's counts and a Region's prices; [`App::hub_cost`]
//! reads the hub and its spoke count and answers [`CostReport`].
//!
//! What is counted (monthly, 730 hours):
//! - hub: interface endpoints (services x hub AZs x endpoint-hour price x 730); the private
//!   hosted zones (one per zone name the services list, $/zone-month, the first 25 zones at the
//!   first tier); in `profile` DNS mode the Route 53 Profiles charge (the owner account's hourly
//!   fee covering 100 Profile-VPC associations, then each association beyond); in
//!   `transit_gateway` network mode every attachment (each spoke's and the hub's) per hour.
//! - alternative: every attached spoke with its own endpoints for the same services (services x
//!   AZs per spoke x endpoint-hour price x 730); their private DNS costs nothing.
//! - estimates, with `gb_per_spoke_month` > 0: endpoint data processing (both sides), Transit
//!   Gateway data processing, and data crossing Availability Zones (both sides).

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::prices::{PriceSource, RegionPrices};
use super::{App, AppError};
use crate::domain::{HubName, Region};
use crate::model::{DnsMode, HubStatus, NetworkMode};

/// Hours in a month, as AWS's own monthly examples count them (8,760 / 12).
pub const HOURS_PER_MONTH: f64 = 730.0;
/// Hosted zones per account billed at the first tier.
pub const ZONES_FIRST_TIER: i64 = 25;
/// Profile-VPC associations the Profiles hourly fee covers.
pub const PROFILE_ASSOCIATIONS_INCLUDED: i64 = 100;
/// The largest spoke count the break-even search tries (a Transit Gateway's attachments).
pub const BREAK_EVEN_MAX_SPOKES: i64 = 5000;

/// `GET /v1/hubs/{id}/cost` query parameters.
#[derive(Debug, Clone, Default)]
pub struct CostQuery {
    /// Availability Zones each spoke would put its own endpoints in; the hub's when absent.
    pub spoke_azs: Option<i64>,
    /// GB each spoke sends and receives through the endpoints per month (estimate); 0 when
    /// absent.
    pub gb_per_spoke_month: Option<f64>,
}

/// What the figures are computed from.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CostInputs {
    /// The hub's endpoint services (being removed ones not counted).
    pub services: i64,
    /// The hub's Availability Zones: its subnets, one endpoint network interface per zone.
    pub hub_azs: i64,
    /// The hub's private hosted zones (one per private DNS name of each service).
    pub zones: i64,
    /// Services whose zone names are not known yet (before the first `endpoints` step): one
    /// zone each is assumed.
    pub zones_assumed: i64,
    /// Spokes in status `attached`: the ones counted.
    pub attached_spokes: i64,
    /// Spokes enrolled and not detached (attaching, failed, ... included): not counted.
    pub enrolled_spokes: i64,
    /// Availability Zones per spoke in the alternative.
    pub spoke_azs: i64,
    /// `hub` (the hub's AZ count, the default) or `query` (`spoke_azs` given).
    pub spoke_azs_from: String,
    /// GB per spoke per month through the endpoints, for the estimates (0: no estimate).
    pub gb_per_spoke_month: f64,
    pub dns_mode: DnsMode,
    pub network_mode: NetworkMode,
}

/// One line of a side of the report.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CostLine {
    /// A stable key: `interface_endpoints`, `hosted_zones`, `hosted_zones_after_25`,
    /// `route53_profile`, `route53_profile_associations_after_100`, `tgw_attachments`,
    /// `endpoint_data_processing`, `tgw_data_processing`, `inter_az_transfer`.
    pub item: String,
    /// What is counted, with the arithmetic.
    pub description: String,
    pub quantity: f64,
    /// What `quantity` counts (`endpoint-AZ hour`, `hosted zone-month`, `GB`, ...).
    pub unit: String,
    /// USD per unit.
    pub unit_price: f64,
    /// USD per month: quantity x unit price, rounded to the cent.
    pub monthly: f64,
    /// True for the data-processing lines, which rest on `gb_per_spoke_month`.
    pub estimate: bool,
    /// The price table's key for the unit price.
    pub price: String,
    /// Whether the price's source states it for this Region (false: a best-known value).
    pub confirmed: bool,
    /// URL of the price's source.
    pub source: String,
}

/// One side of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CostSide {
    pub lines: Vec<CostLine>,
    /// USD per month, the lines' sum.
    pub monthly_total: f64,
}

/// Where the prices come from.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PriceInfo {
    /// The built-in table, or the `EH_PRICES_FILE` file over it.
    pub table: String,
    /// Whether this Region's prices come from the `EH_PRICES_FILE` file.
    pub overridden: bool,
    /// The sources the lines cite.
    pub sources: Vec<CitedSource>,
    /// Price keys used here whose source does not state them for this Region.
    pub unconfirmed: Vec<String>,
}

/// A source cited by the lines.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CitedSource {
    pub key: String,
    #[serde(flatten)]
    pub source: PriceSource,
}

/// `GET /v1/hubs/{id}/cost`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CostReport {
    pub hub_id: Uuid,
    pub hub_name: HubName,
    pub hub_status: HubStatus,
    pub region: Region,
    /// Always `USD`.
    pub currency: String,
    /// Hours a monthly figure counts (730).
    pub hours_per_month: f64,
    pub inputs: CostInputs,
    /// The assumptions the figures rest on, in words.
    pub assumptions: Vec<String>,
    pub prices: PriceInfo,
    /// What the hub costs: its endpoints, zones, and its modes' charges.
    pub hub: CostSide,
    /// What the same services would cost as endpoints in every attached spoke VPC.
    pub alternative: CostSide,
    /// `alternative.monthly_total - hub.monthly_total`: negative when the hub costs more.
    pub monthly_saving: f64,
    /// The smallest number of attached spokes at which the hub costs no more than the
    /// alternative (same services, AZs and GB per spoke); null if none up to 5,000.
    pub break_even_spokes: Option<i64>,
    /// The outcome in words.
    pub verdict: String,
}

/// Rounds to the cent.
fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The price table's sources by key.
pub type Sources = std::collections::BTreeMap<String, PriceSource>;

struct Lines<'a> {
    prices: &'a RegionPrices,
    sources: &'a Sources,
    lines: Vec<CostLine>,
}

impl<'a> Lines<'a> {
    fn new(prices: &'a RegionPrices, sources: &'a Sources) -> Self {
        Lines {
            prices,
            sources,
            lines: Vec::new(),
        }
    }

    fn push(
        &mut self,
        item: &str,
        description: String,
        quantity: f64,
        unit: &str,
        key: &str,
        estimate: bool,
    ) {
        let p = self
            .prices
            .get(key)
            .expect("a key of RegionPrices, named by the code above");
        self.lines.push(CostLine {
            item: item.to_owned(),
            description,
            quantity,
            unit: unit.to_owned(),
            unit_price: p.usd,
            monthly: cents(quantity * p.usd),
            estimate,
            price: key.to_owned(),
            confirmed: p.confirmed,
            source: self
                .sources
                .get(&p.source)
                .map(|s| s.url.clone())
                .unwrap_or_default(),
        });
    }

    fn side(self) -> CostSide {
        let monthly_total = cents(self.lines.iter().map(|l| l.monthly).sum());
        CostSide {
            lines: self.lines,
            monthly_total,
        }
    }
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

/// Both sides for `inputs` at `prices`.
pub fn compute(
    inputs: &CostInputs,
    prices: &RegionPrices,
    sources: &Sources,
) -> (CostSide, CostSide) {
    let h = HOURS_PER_MONTH;
    let s = inputs.services as f64;
    let n = inputs.attached_spokes as f64;
    let gb = inputs.gb_per_spoke_month;
    let total_gb = n * gb;
    let mut hub = Lines::new(prices, sources);

    // Hub: endpoints.
    let azs = inputs.hub_azs as f64;
    hub.push(
        "interface_endpoints",
        format!(
            "{} services x {} AZs x {} h: one endpoint network interface per service and AZ",
            inputs.services, inputs.hub_azs, h
        ),
        s * azs * h,
        "endpoint-AZ hour",
        "interface_endpoint_hour",
        false,
    );
    // Hub: private hosted zones, in either DNS mode (a Profile holds the same zones).
    let first = inputs.zones.min(ZONES_FIRST_TIER);
    let after = inputs.zones - first;
    hub.push(
        "hosted_zones",
        format!(
            "{first} private hosted zones at the first tier (an account's first {ZONES_FIRST_TIER}; \
             the hub account's other zones, if any, are not known)"
        ),
        first as f64,
        "hosted zone-month",
        "hosted_zone_month_first_25",
        false,
    );
    if after > 0 {
        hub.push(
            "hosted_zones_after_25",
            format!("{after} private hosted zones beyond the first {ZONES_FIRST_TIER}"),
            after as f64,
            "hosted zone-month",
            "hosted_zone_month_after_25",
            false,
        );
    }
    // Hub: the DNS mode's charges.
    if inputs.dns_mode == DnsMode::Profile {
        hub.push(
            "route53_profile",
            format!(
                "Route 53 Profiles: {h} h of the hub account's hourly fee, which covers up to \
                 {PROFILE_ASSOCIATIONS_INCLUDED} Profile-VPC associations (the account's \
                 Profiles together: other Profiles of the hub account share it)"
            ),
            h,
            "account-hour",
            "profile_hour_first_100_associations",
            false,
        );
        let beyond = (inputs.attached_spokes - PROFILE_ASSOCIATIONS_INCLUDED).max(0);
        if beyond > 0 {
            hub.push(
                "route53_profile_associations_after_100",
                format!(
                    "{beyond} spoke VPC associations beyond the first \
                     {PROFILE_ASSOCIATIONS_INCLUDED} x {h} h"
                ),
                beyond as f64 * h,
                "association-hour",
                "profile_association_hour_after_100",
                false,
            );
        }
    }
    // Hub: the network mode's charges (peering has no hourly charge).
    if inputs.network_mode == NetworkMode::TransitGateway {
        hub.push(
            "tgw_attachments",
            format!(
                "({} spokes + the hub) attachments x {h} h (each attachment is billed to its \
                 VPC's account)",
                inputs.attached_spokes
            ),
            (n + 1.0) * h,
            "attachment-hour",
            "tgw_attachment_hour",
            false,
        );
    }

    let mut alt = Lines::new(prices, sources);
    let spoke_azs = inputs.spoke_azs as f64;
    alt.push(
        "interface_endpoints",
        format!(
            "{} spokes x {} services x {} AZs x {h} h (their private DNS costs nothing)",
            inputs.attached_spokes, inputs.services, inputs.spoke_azs
        ),
        n * s * spoke_azs * h,
        "endpoint-AZ hour",
        "interface_endpoint_hour",
        false,
    );

    // Estimates.
    if gb > 0.0 {
        for side in [&mut hub, &mut alt] {
            side.push(
                "endpoint_data_processing",
                format!(
                    "estimate: {} spokes x {} GB a month through the endpoints",
                    inputs.attached_spokes,
                    fmt_num(gb)
                ),
                total_gb,
                "GB",
                "interface_endpoint_gb",
                true,
            );
        }
        if inputs.network_mode == NetworkMode::TransitGateway {
            hub.push(
                "tgw_data_processing",
                format!(
                    "estimate: {} spokes x {} GB a month through the Transit Gateway",
                    inputs.attached_spokes,
                    fmt_num(gb)
                ),
                total_gb,
                "GB",
                "tgw_gb",
                true,
            );
        }
        for (side, zones) in [(&mut hub, inputs.hub_azs), (&mut alt, inputs.spoke_azs)] {
            let crossing = total_gb * (zones - 1) as f64 / zones as f64;
            side.push(
                "inter_az_transfer",
                format!(
                    "estimate: {}/{} of the {} GB reach an endpoint network interface in another \
                     AZ (clients spread evenly over {} AZs), charged out and in",
                    zones - 1,
                    zones,
                    fmt_num(total_gb),
                    zones
                ),
                crossing * 2.0,
                "GB charged (each direction)",
                "inter_az_gb",
                true,
            );
        }
    }
    (hub.side(), alt.side())
}

/// The monthly saving (alternative minus hub) of `inputs`.
pub fn saving(inputs: &CostInputs, prices: &RegionPrices, sources: &Sources) -> f64 {
    let (hub, alt) = compute(inputs, prices, sources);
    cents(alt.monthly_total - hub.monthly_total)
}

/// The smallest spoke count at which the hub costs no more than the alternative.
pub fn break_even(inputs: &CostInputs, prices: &RegionPrices, sources: &Sources) -> Option<i64> {
    (0..=BREAK_EVEN_MAX_SPOKES).find(|&n| {
        let at = CostInputs {
            attached_spokes: n,
            ..inputs.clone()
        };
        saving(&at, prices, sources) >= 0.0
    })
}

/// The outcome in words.
pub fn verdict(inputs: &CostInputs, saving: f64, break_even: Option<i64>) -> String {
    let n = inputs.attached_spokes;
    let at = match break_even {
        Some(b) => format!("the hub breaks even at {b} attached spokes"),
        None => format!("the hub does not break even up to {BREAK_EVEN_MAX_SPOKES} spokes"),
    };
    if n == 0 {
        format!(
            "no attached spokes: the hub costs {:.2} USD a month and saves nothing yet; {at}",
            -saving
        )
    } else if saving >= 0.0 {
        format!(
            "the hub saves {saving:.2} USD a month against endpoints in each of the {n} attached \
             spokes; {at}"
        )
    } else {
        format!(
            "the hub costs {:.2} USD a month more than endpoints in each of the {n} attached \
             spokes would; {at}",
            -saving
        )
    }
}

impl App {
    /// The cost report of a hub.
    pub async fn hub_cost(&self, id: Uuid, query: CostQuery) -> Result<CostReport, AppError> {
        let hub = self.hub_get(id).await?;
        let Some(prices) = self.prices.region(hub.region.as_str()) else {
            return Err(AppError::NoPrices {
                region: hub.region.to_string(),
                table: self.prices.origin.clone(),
            });
        };
        let counts = hub.spoke_counts.unwrap_or_default();

        let present: Vec<_> = hub
            .services
            .iter()
            .filter(|s| s.state == "present")
            .collect();
        let zones_assumed = present.iter().filter(|s| s.zones.is_empty()).count() as i64;
        let zones = present
            .iter()
            .map(|s| s.zones.len().max(1) as i64)
            .sum::<i64>();
        let hub_azs = hub.subnet_ids.len() as i64;
        let inputs = CostInputs {
            services: present.len() as i64,
            hub_azs,
            zones,
            zones_assumed,
            attached_spokes: counts.attached,
            enrolled_spokes: counts.live(),
            spoke_azs: query.spoke_azs.unwrap_or(hub_azs),
            spoke_azs_from: if query.spoke_azs.is_some() {
                "query"
            } else {
                "hub"
            }
            .to_owned(),
            gb_per_spoke_month: query.gb_per_spoke_month.unwrap_or(0.0),
            dns_mode: hub.dns_mode,
            network_mode: hub.network_mode,
        };
        let (hub_side, alternative) = compute(&inputs, prices, &self.prices.sources);
        let monthly_saving = cents(alternative.monthly_total - hub_side.monthly_total);
        let break_even_spokes = break_even(&inputs, prices, &self.prices.sources);

        let mut assumptions = vec![
            format!(
                "a month is {HOURS_PER_MONTH} hours (8,760 / 12), as AWS's monthly examples count"
            ),
            format!(
                "only attached spokes count ({} of {} enrolled); the hub's endpoints are \
                 billed whatever the spoke count",
                counts.attached,
                counts.live()
            ),
            format!(
                "the hub's endpoints are in each of its {hub_azs} AZs (one subnet per AZ), \
                 including services offered in fewer AZs"
            ),
            if query.spoke_azs.is_some() {
                format!(
                    "each spoke's own endpoints would be in {} AZs (spoke_azs given)",
                    inputs.spoke_azs
                )
            } else {
                format!(
                    "each spoke's own endpoints would be in {hub_azs} AZs, the hub's count: \
                     endpoint-hub does not know the spokes' AZs (give spoke_azs to change it)"
                )
            },
            "the alternative's endpoints use AWS's private DNS, which costs nothing".to_owned(),
            "prices are on-demand list prices, without discounts, credits or taxes".to_owned(),
        ];
        if zones_assumed > 0 {
            assumptions.push(format!(
                "{zones_assumed} services have no zone names yet: one zone each is assumed"
            ));
        }
        if inputs.gb_per_spoke_month > 0.0 {
            assumptions.push(
                "data-processing lines are estimates from gb_per_spoke_month at the first \
                 price tier; data crossing AZs assumes clients spread evenly over the AZs"
                    .to_owned(),
            );
        } else {
            assumptions
                .push("no data-processing estimate: give gb_per_spoke_month to add one".to_owned());
        }

        // The price keys no source confirms for the Region, and the sources the lines cite,
        // each once, in the order of the lines.
        let mut unconfirmed: Vec<String> = Vec::new();
        let mut sources: Vec<CitedSource> = Vec::new();
        for line in hub_side.lines.iter().chain(&alternative.lines) {
            if !line.confirmed && !unconfirmed.contains(&line.price) {
                unconfirmed.push(line.price.clone());
            }
            let key = prices.get(&line.price).map(|p| &p.source);
            if let Some((key, source)) = key.and_then(|k| self.prices.sources.get_key_value(k))
                && !sources.iter().any(|c| &c.key == key)
            {
                sources.push(CitedSource {
                    key: key.clone(),
                    source: source.clone(),
                });
            }
        }

        Ok(CostReport {
            hub_id: hub.id,
            hub_name: hub.name,
            hub_status: hub.status,
            region: hub.region.clone(),
            currency: "USD".to_owned(),
            hours_per_month: HOURS_PER_MONTH,
            verdict: verdict(&inputs, monthly_saving, break_even_spokes),
            inputs,
            assumptions,
            prices: PriceInfo {
                table: self.prices.origin.clone(),
                overridden: self
                    .prices
                    .overridden
                    .iter()
                    .any(|r| r == hub.region.as_str()),
                sources,
                unconfirmed,
            },
            hub: hub_side,
            alternative,
            monthly_saving,
            break_even_spokes,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::app::prices::Price;

    /// Round test prices, so that the hand computations below read easily.
    fn prices() -> (RegionPrices, BTreeMap<String, PriceSource>) {
        let p = |usd: f64| Price {
            usd,
            source: "test".into(),
            confirmed: usd != 0.0014,
            note: None,
        };
        let prices = RegionPrices {
            interface_endpoint_hour: p(0.01),
            interface_endpoint_gb: p(0.01),
            hosted_zone_month_first_25: p(0.50),
            hosted_zone_month_after_25: p(0.10),
            profile_hour_first_100_associations: p(0.75),
            profile_association_hour_after_100: p(0.0014),
            tgw_attachment_hour: p(0.05),
            tgw_gb: p(0.02),
            inter_az_gb: p(0.01),
        };
        let mut sources = BTreeMap::new();
        sources.insert(
            "test".to_owned(),
            PriceSource {
                url: "https://example.com/prices".into(),
                read: "2026-11-27".into(),
                note: None,
            },
        );
        (prices, sources)
    }

    fn inputs(services: i64, azs: i64, zones: i64, spokes: i64) -> CostInputs {
        CostInputs {
            services,
            hub_azs: azs,
            zones,
            zones_assumed: 0,
            attached_spokes: spokes,
            enrolled_spokes: spokes,
            spoke_azs: azs,
            spoke_azs_from: "hub".into(),
            gb_per_spoke_month: 0.0,
            dns_mode: DnsMode::Zones,
            network_mode: NetworkMode::Peering,
        }
    }

    fn line<'a>(side: &'a CostSide, item: &str) -> &'a CostLine {
        side.lines
            .iter()
            .find(|l| l.item == item)
            .unwrap_or_else(|| panic!("no line {item} in {side:?}"))
    }

    fn run(i: &CostInputs) -> (CostSide, CostSide, f64, Option<i64>) {
        let (p, s) = prices();
        let (hub, alt) = compute(i, &p, &s);
        (hub, alt, saving(i, &p, &s), break_even(i, &p, &s))
    }

    #[test]
    fn zones_and_peering() {
        // 3 services, 2 AZs, 3 zones, 4 spokes:
        // hub: 3 x 2 x 730 = 4,380 endpoint-AZ hours x 0.01 = 43.80; 3 zones x 0.50 = 1.50;
        //      total 45.30.
        // alternative: 4 x 3 x 2 x 730 = 17,520 hours x 0.01 = 175.20.
        // saving 175.20 - 45.30 = 129.90; break-even: n x 43.80 >= 45.30 from n = 2.
        let (hub, alt, saving, even) = run(&inputs(3, 2, 3, 4));
        assert_eq!(line(&hub, "interface_endpoints").quantity, 4380.0);
        assert_eq!(line(&hub, "interface_endpoints").monthly, 43.8);
        assert_eq!(line(&hub, "hosted_zones").monthly, 1.5);
        assert_eq!(hub.lines.len(), 2);
        assert_eq!(hub.monthly_total, 45.3);
        assert_eq!(alt.lines.len(), 1);
        assert_eq!(line(&alt, "interface_endpoints").quantity, 17520.0);
        assert_eq!(alt.monthly_total, 175.2);
        assert_eq!(saving, 129.9);
        assert_eq!(even, Some(2));
    }

    #[test]
    fn zones_beyond_the_first_25_are_at_the_second_tier() {
        // 30 zones: 25 x 0.50 = 12.50 and 5 x 0.10 = 0.50.
        let (hub, ..) = run(&inputs(30, 1, 30, 0));
        assert_eq!(line(&hub, "hosted_zones").quantity, 25.0);
        assert_eq!(line(&hub, "hosted_zones").monthly, 12.5);
        assert_eq!(line(&hub, "hosted_zones_after_25").quantity, 5.0);
        assert_eq!(line(&hub, "hosted_zones_after_25").monthly, 0.5);
    }

    #[test]
    fn profile_mode_pays_the_hourly_fee_and_associations_beyond_100() {
        // 150 spokes: 730 h x 0.75 = 547.50; (150 - 100) x 730 h = 36,500 association-hours
        // x 0.0014 = 51.10.
        let i = CostInputs {
            dns_mode: DnsMode::Profile,
            ..inputs(3, 2, 3, 150)
        };
        let (hub, ..) = run(&i);
        assert_eq!(line(&hub, "route53_profile").monthly, 547.5);
        assert_eq!(
            line(&hub, "route53_profile_associations_after_100").quantity,
            36500.0
        );
        assert_eq!(
            line(&hub, "route53_profile_associations_after_100").monthly,
            51.1
        );
        assert!(!line(&hub, "route53_profile_associations_after_100").confirmed);
        // 100 spokes or fewer: the fee alone. Hub 43.80 + 1.50 + 547.50 = 592.80; it breaks
        // even at 14 spokes (14 x 43.80 = 613.20; 13 x 43.80 = 569.40).
        let (hub, _, _, even) = run(&CostInputs {
            attached_spokes: 4,
            ..i
        });
        assert!(
            hub.lines
                .iter()
                .all(|l| l.item != "route53_profile_associations_after_100")
        );
        assert_eq!(hub.monthly_total, 592.8);
        assert_eq!(even, Some(14));
    }

    #[test]
    fn one_spoke_on_a_transit_gateway_costs_more_than_its_own_endpoints() {
        // 1 spoke: hub 43.80 + 1.50 + (1 + 1) x 730 x 0.05 = 73.00 -> 118.30; alternative
        // 1 x 3 x 2 x 730 x 0.01 = 43.80; saving -74.50. Break-even: 43.80 n >= 45.30 +
        // 36.50 (n + 1) from n = 12 (525.60 >= 519.80; at 11, 481.80 < 483.30).
        let i = CostInputs {
            network_mode: NetworkMode::TransitGateway,
            ..inputs(3, 2, 3, 1)
        };
        let (hub, alt, saving, even) = run(&i);
        assert_eq!(line(&hub, "tgw_attachments").quantity, 1460.0);
        assert_eq!(line(&hub, "tgw_attachments").monthly, 73.0);
        assert_eq!(hub.monthly_total, 118.3);
        assert_eq!(alt.monthly_total, 43.8);
        assert_eq!(saving, -74.5);
        assert_eq!(even, Some(12));
        let words = verdict(&i, saving, even);
        assert!(words.contains("costs 74.50 USD a month more"), "{words}");
        assert!(words.contains("breaks even at 12"), "{words}");
    }

    #[test]
    fn data_processing_lines_are_estimates() {
        // 4 spokes x 100 GB = 400 GB. Endpoints: 400 x 0.01 = 4.00 on both sides. Transit
        // Gateway: 400 x 0.02 = 8.00. Crossing AZs, 2 AZs: half of 400 GB, charged out and in:
        // 400 GB charged x 0.01 = 4.00 on both sides; with 3 AZs per spoke: 2/3 x 400 x 2 =
        // 533.33 GB charged -> 5.33.
        let i = CostInputs {
            network_mode: NetworkMode::TransitGateway,
            gb_per_spoke_month: 100.0,
            spoke_azs: 3,
            ..inputs(3, 2, 3, 4)
        };
        let (hub, alt, ..) = run(&i);
        assert_eq!(line(&hub, "endpoint_data_processing").monthly, 4.0);
        assert_eq!(line(&hub, "tgw_data_processing").monthly, 8.0);
        assert_eq!(line(&hub, "inter_az_transfer").monthly, 4.0);
        assert_eq!(line(&alt, "endpoint_data_processing").monthly, 4.0);
        assert_eq!(line(&alt, "inter_az_transfer").monthly, 5.33);
        for side in [&hub, &alt] {
            for l in &side.lines {
                assert_eq!(
                    l.estimate,
                    l.item.contains("data_processing") || l.item == "inter_az_transfer",
                    "{l:?}"
                );
            }
        }
        // Without gb_per_spoke_month, no estimate at all.
        let (hub, alt, ..) = run(&inputs(3, 2, 3, 4));
        assert!(hub.lines.iter().chain(&alt.lines).all(|l| !l.estimate));
    }
}
