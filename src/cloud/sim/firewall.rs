//! EC2 managed prefix lists and security groups.
//!
//! - A prefix list starts at version 1 with no entries. `prefix_list_modify` needs the current
//!   version (`Invalid`, `PrefixListVersionMismatch`), refuses to add a present entry, remove a
//!   missing one, or touch one entry both ways (`Invalid`, `InvalidPrefixListModification`), and
//!   to exceed `MaxEntries` (`LimitExceeded`, `PrefixListMaxEntriesExceeded`); an empty change is
//!   `Invalid` (`MissingParameter`). Each change adds 1 to the version.
//! - `MaxEntries` must be 1 to 1000 (`InvalidParameterValue`).
//! - Deleting a missing list or group is `Ok`; a list referenced by a security group rule or a
//!   group used by a live endpoint can't be deleted (`Invalid`, `DependencyViolation`).
//! - Security group names are unique per VPC (`AlreadyExists`, `InvalidGroup.Duplicate`). An
//!   HTTPS rule from a prefix list counts as the list's `MaxEntries` rules against
//!   [`SimConfig::sg_inbound_rules`](super::SimConfig) (`RulesPerSecurityGroupLimitExceeded`);
//!   adding a rule that exists is `Ok`.

use async_trait::async_trait;

use super::{PrefixList, SecurityGroup, SimCloud, fail};
use crate::cloud::{
    CallCx, CloudErrorKind, CloudResult, Firewall, IngressRule, PrefixListInfo, SecurityGroupInfo,
};
use crate::domain::{Ipv4Cidr, PrefixListId, SecurityGroupId, VpcId};

impl PrefixList {
    pub(super) fn info(&self) -> PrefixListInfo {
        PrefixListInfo {
            id: self.id.clone(),
            version: self.version,
            max_entries: self.max_entries,
            entries: self.entries.clone(),
            owner_tag: Some(self.owner_tag.clone()),
        }
    }
    fn visible_to(&self, cx: &CallCx) -> bool {
        self.account == cx.account
            && self.region == cx.region
            && std::time::Instant::now() >= self.visible_at
    }
}

impl SecurityGroup {
    pub(super) fn info(&self) -> SecurityGroupInfo {
        SecurityGroupInfo {
            id: self.id.clone(),
            vpc_id: self.vpc.clone(),
            ingress: self
                .ingress
                .iter()
                .map(|(port, pl)| IngressRule::port(*port, pl.clone()))
                .collect(),
            owner_tag: Some(self.owner_tag.clone()),
        }
    }
    fn visible_to(&self, cx: &CallCx) -> bool {
        self.account == cx.account
            && self.region == cx.region
            && std::time::Instant::now() >= self.visible_at
    }
}

fn group_not_found<T>(op: &str, sg: &SecurityGroupId) -> CloudResult<T> {
    fail(
        CloudErrorKind::NotFound,
        op,
        "InvalidGroup.NotFound",
        format!("The security group '{sg}' does not exist"),
    )
}

fn prefix_list_not_found<T>(op: &str, id: &PrefixListId) -> CloudResult<T> {
    fail(
        CloudErrorKind::NotFound,
        op,
        "InvalidPrefixListID.NotFound",
        format!("The prefix list ID '{id}' does not exist"),
    )
}

fn modify(
    list: &mut PrefixList,
    current_version: i64,
    add: &[Ipv4Cidr],
    remove: &[Ipv4Cidr],
) -> CloudResult<()> {
    const OP: &str = "ModifyManagedPrefixList";
    let invalid = |message: String| {
        fail(
            CloudErrorKind::Invalid,
            OP,
            "InvalidPrefixListModification",
            message,
        )
    };
    if add.is_empty() && remove.is_empty() {
        return fail(
            CloudErrorKind::Invalid,
            OP,
            "MissingParameter",
            "The request must add or remove at least one entry",
        );
    }
    if current_version != list.version {
        return fail(
            CloudErrorKind::Invalid,
            OP,
            "PrefixListVersionMismatch",
            format!(
                "The prefix list {} has version {}, not {current_version}",
                list.id, list.version
            ),
        );
    }
    for (i, cidr) in add.iter().enumerate() {
        if remove.contains(cidr) || add[..i].contains(cidr) {
            return invalid(format!(
                "The entry {cidr} appears more than once in the request"
            ));
        }
        if list.entries.contains(cidr) {
            return invalid(format!(
                "The prefix list {} already has the entry {cidr}",
                list.id
            ));
        }
    }
    for cidr in remove {
        if !list.entries.contains(cidr) {
            return invalid(format!(
                "The prefix list {} has no entry {cidr} to remove",
                list.id
            ));
        }
    }
    let after = list.entries.len() + add.len() - remove.len();
    if after > list.max_entries as usize {
        return fail(
            CloudErrorKind::LimitExceeded,
            OP,
            "PrefixListMaxEntriesExceeded",
            format!(
                "The prefix list {} would have {after} entries; its MaxEntries is {}",
                list.id, list.max_entries
            ),
        );
    }
    list.entries.retain(|c| !remove.contains(c));
    list.entries.extend_from_slice(add);
    list.version += 1;
    Ok(())
}

#[async_trait]
impl Firewall for SimCloud {
    async fn prefix_list_find(
        &self,
        cx: &CallCx,
        owner_tag: &str,
    ) -> CloudResult<Option<PrefixListInfo>> {
        self.read(cx, "DescribeManagedPrefixLists", |s| {
            Ok(s.prefix_lists
                .values()
                .find(|p| p.visible_to(cx) && p.owner_tag == owner_tag)
                .map(PrefixList::info))
        })
        .await
    }

    async fn prefix_list_get(
        &self,
        cx: &CallCx,
        id: &PrefixListId,
    ) -> CloudResult<Option<PrefixListInfo>> {
        self.read(cx, "DescribeManagedPrefixLists", |s| {
            Ok(s.prefix_lists
                .get(id)
                .filter(|p| p.visible_to(cx))
                .map(PrefixList::info))
        })
        .await
    }

    async fn prefix_list_create(
        &self,
        cx: &CallCx,
        name: &str,
        max_entries: i32,
        owner_tag: &str,
    ) -> CloudResult<PrefixListInfo> {
        self.write(cx, "CreateManagedPrefixList", None, |s| {
            if !(1..=1000).contains(&max_entries) || name.is_empty() {
                return fail(
                    CloudErrorKind::Invalid,
                    "CreateManagedPrefixList",
                    "InvalidParameterValue",
                    format!(
                        "MaxEntries must be 1 to 1000 (was {max_entries}) and the name not empty"
                    ),
                );
            }
            // The AWS implementation sends a client token made of the owner tag and the name:
            // the same request again returns the same list.
            if let Some(same) = s.prefix_lists.values().find(|p| {
                p.account == cx.account
                    && p.region == cx.region
                    && p.owner_tag == owner_tag
                    && p.name == name
            }) {
                return Ok(same.info());
            }
            let id: PrefixListId = s.ec2_id("pl").parse().expect("generated pl id");
            let list = PrefixList {
                name: name.to_owned(),
                visible_at: std::time::Instant::now() + self.config.propagation,
                id: id.clone(),
                account: cx.account.clone(),
                region: cx.region.clone(),
                version: 1,
                max_entries,
                entries: Vec::new(),
                owner_tag: owner_tag.to_owned(),
            };
            let info = list.info();
            s.prefix_lists.insert(id, list);
            Ok(info)
        })
        .await
    }

    async fn prefix_list_modify(
        &self,
        cx: &CallCx,
        id: &PrefixListId,
        current_version: i64,
        add: &[Ipv4Cidr],
        remove: &[Ipv4Cidr],
    ) -> CloudResult<()> {
        self.write(
            cx,
            "ModifyManagedPrefixList",
            Some(id.to_string()),
            |s| match s.prefix_lists.get_mut(id).filter(|p| p.visible_to(cx)) {
                Some(list) => modify(list, current_version, add, remove),
                None => prefix_list_not_found("ModifyManagedPrefixList", id),
            },
        )
        .await
    }

    async fn prefix_list_delete(&self, cx: &CallCx, id: &PrefixListId) -> CloudResult<()> {
        self.write(cx, "DeleteManagedPrefixList", Some(id.to_string()), |s| {
            if !s.prefix_lists.get(id).is_some_and(|p| p.visible_to(cx)) {
                return Ok(());
            }
            if let Some(sg) = s
                .security_groups
                .values()
                .find(|g| g.ingress.iter().any(|(_, pl)| pl == id))
            {
                return fail(
                    CloudErrorKind::Invalid,
                    "DeleteManagedPrefixList",
                    "DependencyViolation",
                    format!(
                        "The prefix list {id} is referenced by security group {}",
                        sg.id
                    ),
                );
            }
            s.prefix_lists.remove(id);
            Ok(())
        })
        .await
    }

    async fn security_group_find(
        &self,
        cx: &CallCx,
        vpc: &VpcId,
        owner_tag: &str,
    ) -> CloudResult<Option<SecurityGroupInfo>> {
        self.read(cx, "DescribeSecurityGroups", |s| {
            Ok(s.security_groups
                .values()
                .find(|g| g.visible_to(cx) && &g.vpc == vpc && g.owner_tag == owner_tag)
                .map(SecurityGroup::info))
        })
        .await
    }

    async fn security_group_create(
        &self,
        cx: &CallCx,
        vpc: &VpcId,
        name: &str,
        owner_tag: &str,
    ) -> CloudResult<SecurityGroupInfo> {
        const OP: &str = "CreateSecurityGroup";
        let first = self
            .security_group_create_once(cx, vpc, name, owner_tag)
            .await;
        if first.is_ok() && self.resend(OP, cx) {
            return self
                .security_group_create_once(cx, vpc, name, owner_tag)
                .await;
        }
        first
    }

    async fn security_group_allow(
        &self,
        cx: &CallCx,
        sg: &SecurityGroupId,
        prefix_list: &PrefixListId,
        port: u16,
    ) -> CloudResult<()> {
        const OP: &str = "AuthorizeSecurityGroupIngress";
        self.write(cx, OP, Some(format!("{sg}:{port}")), |s| {
            let Some(group) = s.security_groups.get(sg).filter(|g| g.visible_to(cx)) else {
                return group_not_found(OP, sg);
            };
            let Some(list) = s.prefix_lists.get(prefix_list).filter(|p| p.visible_to(cx)) else {
                return prefix_list_not_found(OP, prefix_list);
            };
            let rule = (port, prefix_list.clone());
            // AWS answers `InvalidPermission.Duplicate`, which the trait's contract (and the
            // AWS implementation) turns into success.
            if group.ingress.contains(&rule) {
                return Ok(());
            }
            // A rule referencing a prefix list counts as the list's MaxEntries rules.
            let rules: usize = group
                .ingress
                .iter()
                .filter_map(|(_, id)| s.prefix_lists.get(id))
                .map(|p| p.max_entries as usize)
                .sum::<usize>()
                + list.max_entries as usize;
            if rules > self.config.sg_inbound_rules {
                return fail(
                    CloudErrorKind::LimitExceeded,
                    OP,
                    "RulesPerSecurityGroupLimitExceeded",
                    format!(
                        "The security group {sg} would count {rules} inbound rules (a prefix \
                         list counts as its MaxEntries); the limit is {}",
                        self.config.sg_inbound_rules
                    ),
                );
            }
            s.security_groups
                .get_mut(sg)
                .expect("checked above")
                .ingress
                .push(rule);
            Ok(())
        })
        .await
    }

    async fn security_group_revoke(
        &self,
        cx: &CallCx,
        sg: &SecurityGroupId,
        prefix_list: &PrefixListId,
        port: u16,
    ) -> CloudResult<()> {
        const OP: &str = "RevokeSecurityGroupIngress";
        self.write(cx, OP, Some(format!("{sg}:{port}")), |s| {
            let Some(group) = s.security_groups.get_mut(sg).filter(|g| g.visible_to(cx)) else {
                return group_not_found(OP, sg);
            };
            // AWS answers success (listing the rule in `UnknownIpPermissions`) when absent.
            group.ingress.retain(|r| r != &(port, prefix_list.clone()));
            Ok(())
        })
        .await
    }

    async fn security_group_delete(&self, cx: &CallCx, sg: &SecurityGroupId) -> CloudResult<()> {
        self.write(cx, "DeleteSecurityGroup", Some(sg.to_string()), |s| {
            if !s.security_groups.get(sg).is_some_and(|g| g.visible_to(cx)) {
                return Ok(());
            }
            if let Some(e) = s
                .endpoints
                .values()
                .find(|e| &e.security_group == sg && e.state != "deleted")
            {
                return fail(
                    CloudErrorKind::Invalid,
                    "DeleteSecurityGroup",
                    "DependencyViolation",
                    format!("resource {sg} has a dependent object ({})", e.id),
                );
            }
            s.security_groups.remove(sg);
            Ok(())
        })
        .await
    }

    async fn prefix_lists_owned(&self, cx: &CallCx) -> CloudResult<Vec<PrefixListInfo>> {
        self.read(cx, "DescribeManagedPrefixLists", |s| {
            Ok(s.prefix_lists
                .values()
                .filter(|p| p.visible_to(cx) && !p.owner_tag.is_empty())
                .map(|p| PrefixListInfo {
                    entries: Vec::new(),
                    ..p.info()
                })
                .collect())
        })
        .await
    }

    async fn security_groups_owned(&self, cx: &CallCx) -> CloudResult<Vec<SecurityGroupInfo>> {
        self.read(cx, "DescribeSecurityGroups", |s| {
            Ok(s.security_groups
                .values()
                .filter(|g| g.visible_to(cx) && !g.owner_tag.is_empty())
                .map(SecurityGroup::info)
                .collect())
        })
        .await
    }
}

impl SimCloud {
    async fn security_group_create_once(
        &self,
        cx: &CallCx,
        vpc: &VpcId,
        name: &str,
        owner_tag: &str,
    ) -> CloudResult<SecurityGroupInfo> {
        const OP: &str = "CreateSecurityGroup";
        self.write(cx, OP, None, |s| {
            if s.vpc_in(&cx.account, &cx.region, vpc).is_none() {
                return fail(
                    CloudErrorKind::NotFound,
                    OP,
                    "InvalidVpcID.NotFound",
                    format!("The vpc ID '{vpc}' does not exist"),
                );
            }
            if s.security_groups
                .values()
                .any(|g| &g.vpc == vpc && g.name == name)
            {
                return fail(
                    CloudErrorKind::AlreadyExists,
                    OP,
                    "InvalidGroup.Duplicate",
                    format!("The security group '{name}' already exists for VPC '{vpc}'"),
                );
            }
            let id: SecurityGroupId = s.ec2_id("sg").parse().expect("generated sg id");
            let group = SecurityGroup {
                id: id.clone(),
                account: cx.account.clone(),
                region: cx.region.clone(),
                vpc: vpc.clone(),
                name: name.to_owned(),
                owner_tag: owner_tag.to_owned(),
                ingress: Vec::new(),
                visible_at: std::time::Instant::now() + self.config.propagation,
            };
            let info = group.info();
            s.security_groups.insert(id, group);
            Ok(info)
        })
        .await
    }
}
