//! The price table of the cost report (`GET /v1/hubs/{id}/cost`): USD prices per AWS Region,
//! each naming its source and saying whether that source states the figure for that Region.
//!
//! The built-in table is `prices/aws-prices.json`, compiled into the binary. `EH_PRICES_FILE`
//! names a file of the same format: each Region it gives replaces the built-in Region, the
//! others stay, and its `sources` are added to the built-in ones.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::Region;

/// The built-in table, as committed.
pub const BUILTIN_JSON: &str = include_str!("../../prices/aws-prices.json");
/// How the answer names the built-in table.
pub const BUILTIN_ORIGIN: &str = "built-in table prices/aws-prices.json";

/// A price file: `prices/aws-prices.json` or the file `EH_PRICES_FILE` names.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PriceFile {
    /// Free text for the reader of the file.
    #[serde(default)]
    pub about: Option<String>,
    /// Where the prices come from, by key (`Price::source` names one).
    #[serde(default)]
    pub sources: BTreeMap<String, PriceSource>,
    /// Prices by Region name (`eu-west-1`).
    pub regions: BTreeMap<String, RegionPrices>,
}

/// Where prices were read.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceSource {
    pub url: String,
    /// The date the source was read (or the date it states).
    pub read: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One price in USD.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub usd: f64,
    /// A key of the file's `sources`.
    pub source: String,
    /// True when the source states this figure for this Region; false for a best-known value.
    pub confirmed: bool,
    #[serde(default)]
    pub note: Option<String>,
}

/// The prices the cost report needs in one Region.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegionPrices {
    /// An interface endpoint in one Availability Zone for one hour.
    pub interface_endpoint_hour: Price,
    /// One GB processed by interface endpoints (first tier).
    pub interface_endpoint_gb: Price,
    /// A hosted zone for a month, for an account's first 25 zones.
    pub hosted_zone_month_first_25: Price,
    /// A hosted zone for a month, beyond an account's first 25.
    pub hosted_zone_month_after_25: Price,
    /// Route 53 Profiles: one hour of the Profile owner's account, covering up to 100
    /// Profile-VPC associations.
    pub profile_hour_first_100_associations: Price,
    /// Route 53 Profiles: one Profile-VPC association for one hour, beyond the first 100.
    pub profile_association_hour_after_100: Price,
    /// A Transit Gateway attachment for one hour.
    pub tgw_attachment_hour: Price,
    /// One GB processed by a Transit Gateway.
    pub tgw_gb: Price,
    /// One GB crossing Availability Zones, charged in each direction.
    pub inter_az_gb: Price,
}

impl RegionPrices {
    /// The price of a key (`interface_endpoint_hour`, ...).
    pub fn get(&self, key: &str) -> Option<&Price> {
        self.all()
            .into_iter()
            .find(|(k, _)| *k == key)
            .map(|(_, p)| p)
    }

    fn all(&self) -> [(&'static str, &Price); 9] {
        [
            ("interface_endpoint_hour", &self.interface_endpoint_hour),
            ("interface_endpoint_gb", &self.interface_endpoint_gb),
            (
                "hosted_zone_month_first_25",
                &self.hosted_zone_month_first_25,
            ),
            (
                "hosted_zone_month_after_25",
                &self.hosted_zone_month_after_25,
            ),
            (
                "profile_hour_first_100_associations",
                &self.profile_hour_first_100_associations,
            ),
            (
                "profile_association_hour_after_100",
                &self.profile_association_hour_after_100,
            ),
            ("tgw_attachment_hour", &self.tgw_attachment_hour),
            ("tgw_gb", &self.tgw_gb),
            ("inter_az_gb", &self.inter_az_gb),
        ]
    }
}

/// The prices in effect: the built-in table, with the override file's Regions over it.
#[derive(Debug, Clone)]
pub struct PriceTable {
    /// Which table(s) the prices come from, for the answer.
    pub origin: String,
    pub sources: BTreeMap<String, PriceSource>,
    pub regions: BTreeMap<String, RegionPrices>,
    /// Regions the override file gave (they replace the built-in ones).
    pub overridden: Vec<String>,
}

impl Default for PriceTable {
    fn default() -> Self {
        PriceTable::builtin()
    }
}

impl PriceTable {
    /// The committed table (checked by a unit test, so this cannot fail in a release).
    pub fn builtin() -> PriceTable {
        let file = parse(BUILTIN_JSON).expect("prices/aws-prices.json is a valid price file");
        let table = PriceTable {
            origin: BUILTIN_ORIGIN.to_owned(),
            sources: file.sources,
            regions: file.regions,
            overridden: Vec::new(),
        };
        table
            .validate()
            .expect("prices/aws-prices.json is a valid price file");
        table
    }

    /// The built-in table with the file at `path` over it (`EH_PRICES_FILE`).
    pub fn with_file(path: &Path) -> anyhow::Result<PriceTable> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the price file {}", path.display()))?;
        let file = parse(&text)
            .with_context(|| format!("the price file {} is not valid", path.display()))?;
        PriceTable::builtin()
            .merged(file, &format!("EH_PRICES_FILE {}", path.display()))
            .with_context(|| format!("the price file {} is not valid", path.display()))
    }

    /// This table with `file`'s Regions replacing its own and `file`'s sources added.
    pub fn merged(mut self, file: PriceFile, origin: &str) -> anyhow::Result<PriceTable> {
        self.sources.extend(file.sources);
        self.overridden = file.regions.keys().cloned().collect();
        self.regions.extend(file.regions);
        self.origin = format!("{origin} over the {}", self.origin);
        self.validate()?;
        Ok(self)
    }

    /// The prices of a Region, if the table has it.
    pub fn region(&self, region: &str) -> Option<&RegionPrices> {
        self.regions.get(region)
    }

    /// Every Region name parses, every price is a finite non-negative number naming a known
    /// source.
    fn validate(&self) -> anyhow::Result<()> {
        for (name, prices) in &self.regions {
            name.parse::<Region>()
                .map_err(|e| anyhow!("regions.{name}: {}", e.0))?;
            for (key, price) in prices.all() {
                if !price.usd.is_finite() || price.usd < 0.0 {
                    bail!("regions.{name}.{key}.usd: must be a number, 0 or more");
                }
                if !self.sources.contains_key(&price.source) {
                    bail!(
                        "regions.{name}.{key}.source: '{}' is not a key of 'sources'",
                        price.source
                    );
                }
            }
        }
        Ok(())
    }
}

/// Parses a price file, naming the offending field.
pub fn parse(text: &str) -> anyhow::Result<PriceFile> {
    let mut de = serde_json::Deserializer::from_str(text);
    let file: PriceFile = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| anyhow!("{}: {}", e.path(), e.inner()))?;
    de.end().map_err(|e| anyhow!("{e}"))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_table_has_the_regions_the_report_promises() {
        let table = PriceTable::builtin();
        for region in [
            "us-east-1",
            "us-east-2",
            "us-west-2",
            "eu-west-1",
            "eu-central-1",
        ] {
            assert!(table.region(region).is_some(), "{region} missing");
        }
        // Every source has a URL and a date.
        for (key, s) in &table.sources {
            assert!(s.url.starts_with("https://"), "{key}");
            assert_eq!(s.read.len(), 10, "{key}: {}", s.read);
        }
    }

    fn override_file() -> PriceFile {
        let mut file = parse(BUILTIN_JSON).unwrap();
        let mut eu = file.regions.remove("eu-west-1").unwrap();
        file.regions.clear();
        eu.interface_endpoint_hour = Price {
            usd: 0.02,
            source: "negotiated".into(),
            confirmed: true,
            note: None,
        };
        file.regions.insert("eu-west-1".into(), eu.clone());
        file.regions.insert("ap-southeast-4".into(), eu);
        file.sources.clear();
        file.sources.insert(
            "negotiated".into(),
            PriceSource {
                url: "https://example.com/our-contract".into(),
                read: "2026-11-01".into(),
                note: None,
            },
        );
        file
    }

    fn eu_endpoint_hour(table: &PriceTable) -> f64 {
        table
            .region("eu-west-1")
            .unwrap()
            .interface_endpoint_hour
            .usd
    }

    #[test]
    fn an_override_file_replaces_its_regions_and_keeps_the_others() {
        let table = PriceTable::builtin()
            .merged(override_file(), "EH_PRICES_FILE x.json")
            .unwrap();
        assert_eq!(eu_endpoint_hour(&table), 0.02);
        // A Region the built-in table lacks is added.
        assert!(table.region("ap-southeast-4").is_some());
        // The others are the built-in ones.
        assert_eq!(
            table.region("us-east-1"),
            PriceTable::builtin().region("us-east-1")
        );
        assert!(table.sources.contains_key("negotiated"));
        assert!(table.sources.contains_key("privatelink"));
        assert_eq!(table.overridden, vec!["ap-southeast-4", "eu-west-1"]);
        assert!(
            table
                .origin
                .starts_with("EH_PRICES_FILE x.json over the built-in")
        );
    }

    #[test]
    fn a_bad_override_file_is_refused_naming_what_is_wrong() {
        let mut file = override_file();
        file.regions.get_mut("eu-west-1").unwrap().tgw_gb.source = "nowhere".into();
        let err = PriceTable::builtin()
            .merged(file, "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("regions.eu-west-1.tgw_gb.source"), "{err}");

        let mut file = override_file();
        file.regions.get_mut("eu-west-1").unwrap().inter_az_gb.usd = -1.0;
        let err = PriceTable::builtin()
            .merged(file, "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("regions.eu-west-1.inter_az_gb.usd"), "{err}");

        let mut file = override_file();
        let eu = file.regions.remove("eu-west-1").unwrap();
        file.regions.insert("mars-1".into(), eu);
        let err = PriceTable::builtin()
            .merged(file, "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("regions.mars-1"), "{err}");

        let err = parse(r#"{"regions": {"eu-west-1": {"interface_endpoint_hour": 1}}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("regions.eu-west-1.interface_endpoint_hour"),
            "{err}"
        );
    }

    #[test]
    fn an_override_file_is_read_from_disk() {
        let dir = std::env::temp_dir().join(format!("eh-prices-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("prices.json");
        std::fs::write(&path, serde_json::to_string(&override_file()).unwrap()).unwrap();
        let table = PriceTable::with_file(&path).unwrap();
        assert_eq!(eu_endpoint_hour(&table), 0.02);
        let err = PriceTable::with_file(&dir.join("missing.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.json"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
