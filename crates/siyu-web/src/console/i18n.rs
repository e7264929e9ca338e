//! Every string the console shows, in 简体中文 and English; templates read them as `t.<key>`.

use siyu_domain::access::{Permission, Role};
use siyu_domain::consent::{Channel, Purpose};
use siyu_domain::profiles::IdentityKind;
use siyu_domain::tags::TagFamily;

/// A console language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lang {
    Zh,
    En,
}

impl Lang {
    /// Parses the `siyu_lang` cookie value or the `/lang/{code}` path segment.
    pub(crate) fn parse(code: &str) -> Option<Self> {
        match code {
            "zh" => Some(Self::Zh),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// Picks the language from an `Accept-Language` header: the preferred tag decides, `zh*` is Chinese.
    pub(crate) fn from_accept_language(header: &str) -> Self {
        let mut best: Option<(f32, &str)> = None;
        for entry in header.split(',') {
            let mut parts = entry.split(';');
            let tag = parts.next().unwrap_or_default().trim();
            let quality = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if !tag.is_empty() && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, tag));
            }
        }
        match best {
            Some((_, tag)) if tag.to_ascii_lowercase().starts_with("zh") => Self::Zh,
            _ => Self::En,
        }
    }

    /// Returns the cookie / path code.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh",
            Self::En => "en",
        }
    }

    /// Returns the BCP 47 tag for `<html lang>`.
    pub(crate) fn html_tag(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }

    /// Returns the strings of this language.
    pub(crate) fn text(self) -> &'static Text {
        match self {
            Self::Zh => &ZH,
            Self::En => &EN,
        }
    }
}

/// Declares [`Text`] and its two instances; a key without both translations does not compile.
macro_rules! strings {
    ($($key:ident: $zh:literal, $en:literal;)*) => {
        /// The console's strings in one language.
        pub(crate) struct Text { $(pub(crate) $key: &'static str,)* }
        static ZH: Text = Text { $($key: $zh,)* };
        static EN: Text = Text { $($key: $en,)* };
    };
}

strings! {
    product: "siyu 私域", "siyu 私域";
    lang_zh: "中文", "中文";
    lang_en: "English", "English";
    nav_customers: "客户", "Customers";
    nav_tags: "标签", "Tags";
    nav_keys: "API 密钥", "API keys";
    nav_users: "成员", "Users & roles";
    nav_analytics: "分析", "Analytics";
    workspace: "工作空间", "Workspace";
    switch_workspace: "切换", "Switch";
    logout: "退出登录", "Log out";
    login_title: "登录", "Log in";
    login_subtitle: "私域运营平台", "Private-domain operations platform";
    email: "邮箱", "E-mail";
    password: "密码", "Password";
    login_submit: "登录", "Log in";
    login_wrong: "邮箱或密码错误。", "Wrong e-mail or password.";
    login_locked: "登录失败次数过多，账户已锁定至 {}。", "Too many failed logins: the account is locked until {}.";
    login_no_workspace: "该账户尚未加入任何工作空间。", "This account belongs to no workspace.";
    error_forbidden_title: "无权访问", "Access denied";
    error_forbidden_body: "你的角色没有此操作所需的权限（{}）。", "Your role lacks the permission this needs ({}).";
    error_csrf: "表单已过期或并非来自本站，请刷新页面后重试。", "The form has expired or did not come from this site. Reload the page and try again.";
    error_not_found_title: "未找到", "Not found";
    error_not_found_body: "你要找的内容不存在，或不属于当前工作空间。", "What you are looking for does not exist or is not in this workspace.";
    error_internal_title: "出错了", "Something went wrong";
    error_internal_body: "服务器内部错误，请稍后再试。", "An internal error occurred. Please try again later.";
    error_bad_request_title: "请求无效", "Bad request";
    error_bad_request_body: "无法读取提交的表单。", "The submitted form could not be read.";
    error_conflict: "已存在同名记录", "A record with this name already exists";
    form_errors: "请更正以下问题：", "Please correct the following:";
    back: "返回客户列表", "Back to customers";
    none: "暂无", "None yet";
    never: "从未", "Never";
    masked: "已脱敏", "masked";
    create: "创建", "Create";
    save: "保存", "Save";
    name: "名称", "Name";
    time_zone_note: "时间按工作空间时区显示：", "Times are shown in the workspace time zone:";
    customers_title: "客户", "Customers";
    customers_total: "共 {} 位客户", "{} customers in total";
    search_label: "搜索客户", "Search customers";
    search_placeholder: "手机号、邮箱或任意身份标识（精确匹配）", "Phone, e-mail or any identity value (exact match)";
    search_submit: "搜索", "Search";
    filter_tags: "按标签筛选（须全部满足）", "Filter by tags (all must match)";
    filter_trait: "按属性筛选", "Filter by trait";
    trait_placeholder: "如 city=上海", "e.g. city=Shanghai";
    clear_filters: "清除筛选", "Clear filters";
    col_id: "ID", "ID";
    col_name: "姓名", "Name";
    col_phone: "手机号", "Phone";
    col_email: "邮箱", "E-mail";
    col_city: "城市", "City";
    col_tags: "标签", "Tags";
    col_created: "创建时间", "Created";
    col_updated: "更新时间", "Updated";
    col_type: "类型", "Type";
    col_value: "值", "Value";
    col_source: "来源", "Source";
    col_key: "属性", "Trait";
    col_purpose: "目的", "Purpose";
    col_channel: "渠道", "Channel";
    col_state: "状态", "State";
    col_policy: "隐私政策版本", "Policy version";
    col_time: "时间", "Time";
    col_survivor: "保留档案", "Kept profile";
    col_merged: "被合并档案", "Merged profile";
    col_reason: "原因", "Reason";
    col_family: "类别", "Family";
    col_group: "标签组", "Group";
    col_customers: "客户数", "Customers";
    col_kind: "类型", "Kind";
    col_role: "角色", "Role";
    col_prefix: "前缀", "Prefix";
    col_last_used: "最近使用", "Last used";
    col_status: "状态", "Status";
    col_user: "成员", "User";
    col_permission: "权限", "Permission";
    no_customers: "没有符合条件的客户。", "No customers match.";
    next_page: "下一页 →", "Next page →";
    first_page: "← 第一页", "← First page";
    customer_heading: "客户档案", "Customer profile";
    identities: "身份标识", "Identities";
    traits: "属性", "Traits";
    tags: "标签", "Tags";
    consent: "授权同意", "Consent";
    consent_current: "当前状态", "Current state";
    consent_history: "变更历史", "History";
    notes: "备注", "Notes";
    merges: "合并记录", "Merge history";
    granted: "已同意", "Granted";
    withdrawn: "已撤回", "Withdrawn";
    add_note: "添加备注", "Add note";
    note_label: "备注内容", "Note";
    note_placeholder: "记录与客户的沟通情况…", "Write down what happened with this customer…";
    note_added: "备注已添加。", "Note added.";
    tags_title: "标签体系", "Tag system";
    tag_groups: "标签组", "Tag groups";
    new_group: "新建标签组", "New tag group";
    new_tag: "新建标签", "New tag";
    group_created: "标签组已创建。", "Tag group created.";
    tag_created: "标签已创建。", "Tag created.";
    no_groups: "还没有标签组，先创建一个吧。", "No tag groups yet: create one first.";
    analytics_funnel: "漏斗", "Funnel";
    analytics_retention: "留存", "Retention";
    analytics_rfm: "RFM", "RFM";
    analytics_tabs: "分析类型", "Analysis";
    analytics_run: "查询", "Run";
    analytics_no_events: "当前工作空间还没有行为事件。可用 siyu import events 导入历史事件，或通过事件上报 API 发送。", "This workspace has no events yet. Import history with siyu import events, or send events to the tracking API.";
    analytics_unindexed: "有 {} 条事件因事件名超过 65,536 种而未计入。", "{} events are left out because the workspace has more than 65,536 event names.";
    analytics_chart_note: "图表需要 JavaScript；表格列出了同样的数字。", "The chart needs JavaScript; the table lists the same numbers.";
    known_events: "已有事件：", "Known events:";
    any_event: "任意事件", "Any event";
    funnel_title: "漏斗分析", "Funnel analysis";
    funnel_steps: "步骤（事件名，按顺序用英文逗号分隔）", "Steps (event names in order, comma-separated)";
    funnel_steps_placeholder: "如 Signed Up,Product Added,Order Completed", "e.g. Signed Up,Product Added,Order Completed";
    funnel_window: "转化窗口（从第一步算起）", "Conversion window (from the first step)";
    funnel_hint: "请输入至少两个步骤。", "Enter at least two steps.";
    funnel_chart: "漏斗图", "Funnel chart";
    window_one_day: "1 天", "1 day";
    window_days: "{} 天", "{} days";
    col_step: "步骤", "Step";
    col_event: "事件", "Event";
    col_overall_conversion: "总体转化率", "Overall conversion";
    col_step_conversion: "步骤转化率", "Step conversion";
    col_median_time: "转化时间中位数", "Median time to convert";
    step_n: "第 {} 步", "Step {}";
    unit_day: "天", "d";
    unit_hour: "小时", "h";
    unit_minute: "分钟", "min";
    unit_second: "秒", "s";
    retention_title: "留存分析", "Retention analysis";
    retention_period: "周期", "Period";
    period_day: "按天", "By day";
    period_week: "按周（周一开始）", "By week (from Monday)";
    period_month: "按月", "By month";
    period_n_day: "第 {} 天", "Day {}";
    period_n_week: "第 {} 周", "Week {}";
    period_n_month: "第 {} 月", "Month {}";
    cohort_event: "入组事件", "Cohort event";
    return_event: "回访事件", "Return event";
    retention_note: "按工作空间时区（{}）分桶；第 0 期即同期群本身，百分比为同期群中仍有行为的客户占比。", "Buckets are in the workspace time zone ({}); period 0 is the cohort itself, and each percentage is the share of the cohort active in that period.";
    retention_rate: "留存率", "Retention rate";
    retention_chart: "留存热力图", "Retention heatmap";
    col_cohort: "同期群", "Cohort";
    col_cohort_size: "人数", "Size";
    rfm_title: "RFM 分析", "RFM analysis";
    rfm_customers: "有订单的客户：{} 位", "Customers with orders: {}";
    rfm_as_of: "最近度计算截至", "Recency measured to";
    rfm_note: "R、F、M 各按五分位打分，5 为最好（最近、最频繁、金额最高）。", "R, F and M are each scored by quintile, 5 being best (most recent, most frequent, highest spend).";
    rfm_grid: "R × F 客户分布（M 合计）", "Customers by R × F (all M)";
    rfm_cells: "全部评分组合", "Every score combination";
    rfm_chart: "RFM 热力图", "RFM heatmap";
    rfm_no_orders: "还没有 Order Completed 事件，暂无可评分的客户。", "There are no Order Completed events yet, so no customer can be scored.";
    rfm_axis_r: "R 最近度", "R recency";
    rfm_axis_f: "F 频次", "F frequency";
    rfm_axis_m: "M 金额", "M monetary";
    total: "合计", "Total";
    keys_title: "API 密钥", "API keys";
    new_key: "新建密钥", "New key";
    kind_secret: "管理密钥（secret）", "Secret (admin API)";
    kind_write: "写入密钥（write，事件上报）", "Write (event ingestion)";
    key_created: "密钥已创建", "Key created";
    key_once_warning: "请立即复制并妥善保存此密钥：它只显示这一次，之后无法再次查看。", "Copy this key now and keep it safe: it is shown only this once and cannot be retrieved later.";
    copy: "复制", "Copy";
    copied: "已复制", "Copied";
    revoke: "吊销", "Revoke";
    revoke_confirm: "确定吊销此密钥？吊销后立即失效。", "Revoke this key? It stops working at once.";
    key_revoked: "密钥已吊销。", "Key revoked.";
    key_active: "有效", "Active";
    key_revoked_at: "已吊销于", "Revoked";
    no_keys: "还没有 API 密钥。", "No API keys yet.";
    users_title: "成员与角色", "Users & roles";
    add_user: "添加成员", "Add user";
    user_added: "成员已添加。", "User added.";
    role_changed: "角色已更新。", "Role changed.";
    permission_matrix: "权限矩阵", "Permission matrix";
    role_owner: "所有者", "Owner";
    role_operator: "运营", "Operator";
    role_analyst: "分析师", "Analyst";
    role_cs_agent: "客服", "Customer service";
    role_auditor: "审计", "Auditor";
    perm_customers_read: "查看客户档案", "Read customer profiles";
    perm_customers_write: "创建和修改客户", "Create and change customers";
    perm_customers_delete: "删除客户（被遗忘权）", "Delete customers (erasure)";
    perm_pii_read: "查看未脱敏个人信息", "See personal data unmasked";
    perm_notes_write: "撰写备注", "Write notes";
    perm_consent_write: "记录授权变更", "Record consent changes";
    perm_tags_manage: "管理标签", "Manage tags";
    perm_customers_import: "批量导入客户", "Import customers";
    perm_keys_manage: "管理 API 密钥", "Manage API keys";
    perm_users_manage: "管理成员与角色", "Manage users and roles";
    perm_workspace_manage: "管理工作空间", "Manage the workspace";
    perm_audit_read: "查看审计日志", "Read the audit log";
    perm_events_write: "发送和导入行为事件", "Send and import events";
    perm_analytics_read: "查看分析（漏斗、留存、RFM）", "Run analytics (funnels, retention, RFM)";
    family_demographic: "人口属性", "Demographic";
    family_consumption_preference: "消费偏好", "Consumption preference";
    family_content_interest: "内容兴趣", "Content interest";
    family_behaviour: "行为特征", "Behaviour";
    family_social: "社交属性", "Social";
    identity_user_id: "用户 ID", "User ID";
    identity_anonymous_id: "匿名 ID", "Anonymous ID";
    identity_phone: "手机号", "Phone";
    identity_email: "邮箱", "E-mail";
    identity_wecom_external_userid: "企业微信外部联系人", "WeCom external contact";
    identity_wechat_unionid: "微信 UnionID", "WeChat UnionID";
    identity_wechat_openid: "微信 OpenID", "WeChat OpenID";
    identity_member_no: "会员号", "Membership number";
    purpose_marketing: "营销", "Marketing";
    purpose_analytics: "行为分析", "Analytics";
    purpose_profiling: "画像与模型", "Profiling";
    purpose_third_party_sharing: "向第三方提供", "Third-party sharing";
    channel_wecom: "企业微信", "WeCom";
    channel_sms: "短信", "SMS";
    channel_email: "邮件", "E-mail";
    channel_wechat_mp: "公众号", "WeChat official account";
    channel_phone: "电话", "Phone";
    tag_source_rule: "规则", "rule";
    tag_source_import: "导入", "import";
    tag_source_manual: "手动", "manual";
    tag_source_model: "模型", "model";
}

impl Text {
    /// Fills the `{}` placeholder of a string.
    pub(crate) fn fill(template: &str, value: impl std::fmt::Display) -> String {
        template.replacen("{}", &value.to_string(), 1)
    }

    /// Returns a role's label.
    pub(crate) fn role(&self, role: Role) -> &'static str {
        match role {
            Role::Owner => self.role_owner,
            Role::Operator => self.role_operator,
            Role::Analyst => self.role_analyst,
            Role::CsAgent => self.role_cs_agent,
            Role::Auditor => self.role_auditor,
        }
    }

    /// Returns what a permission allows, in words.
    pub(crate) fn permission(&self, permission: Permission) -> &'static str {
        match permission {
            Permission::CustomersRead => self.perm_customers_read,
            Permission::CustomersWrite => self.perm_customers_write,
            Permission::CustomersDelete => self.perm_customers_delete,
            Permission::PiiRead => self.perm_pii_read,
            Permission::NotesWrite => self.perm_notes_write,
            Permission::ConsentWrite => self.perm_consent_write,
            Permission::TagsManage => self.perm_tags_manage,
            Permission::CustomersImport => self.perm_customers_import,
            Permission::KeysManage => self.perm_keys_manage,
            Permission::UsersManage => self.perm_users_manage,
            Permission::WorkspaceManage => self.perm_workspace_manage,
            Permission::AuditRead => self.perm_audit_read,
            Permission::EventsWrite => self.perm_events_write,
            Permission::AnalyticsRead => self.perm_analytics_read,
        }
    }

    /// Returns a tag family's label.
    pub(crate) fn family(&self, family: TagFamily) -> &'static str {
        match family {
            TagFamily::Demographic => self.family_demographic,
            TagFamily::ConsumptionPreference => self.family_consumption_preference,
            TagFamily::ContentInterest => self.family_content_interest,
            TagFamily::Behaviour => self.family_behaviour,
            TagFamily::Social => self.family_social,
        }
    }

    /// Returns an identity kind's label.
    pub(crate) fn identity_kind(&self, kind: IdentityKind) -> &'static str {
        match kind {
            IdentityKind::UserId => self.identity_user_id,
            IdentityKind::AnonymousId => self.identity_anonymous_id,
            IdentityKind::Phone => self.identity_phone,
            IdentityKind::Email => self.identity_email,
            IdentityKind::WecomExternalUserid => self.identity_wecom_external_userid,
            IdentityKind::WechatUnionid => self.identity_wechat_unionid,
            IdentityKind::WechatOpenid => self.identity_wechat_openid,
            IdentityKind::MemberNo => self.identity_member_no,
        }
    }

    /// Returns a consent purpose's label.
    pub(crate) fn purpose(&self, purpose: Purpose) -> &'static str {
        match purpose {
            Purpose::Marketing => self.purpose_marketing,
            Purpose::Analytics => self.purpose_analytics,
            Purpose::Profiling => self.purpose_profiling,
            Purpose::ThirdPartySharing => self.purpose_third_party_sharing,
        }
    }

    /// Returns a consent channel's label.
    pub(crate) fn channel(&self, channel: Channel) -> &'static str {
        match channel {
            Channel::Wecom => self.channel_wecom,
            Channel::Sms => self.channel_sms,
            Channel::Email => self.channel_email,
            Channel::WechatMp => self.channel_wechat_mp,
            Channel::Phone => self.channel_phone,
        }
    }

    /// Returns a tag assignment source's label (unknown sources as given).
    pub(crate) fn tag_source<'a>(&self, source: &'a str) -> &'a str {
        match source {
            "rule" => self.tag_source_rule,
            "import" => self.tag_source_import,
            "manual" => self.tag_source_manual,
            "model" => self.tag_source_model,
            other => other,
        }
    }

    /// Returns the label of a form field named in a domain error (unknown fields as given).
    pub(crate) fn field<'a>(&self, field: &'a str) -> &'a str {
        match field {
            "email" => self.email,
            "password" => self.password,
            "name" => self.name,
            "role" => self.col_role,
            "kind" => self.col_kind,
            "body" => self.note_label,
            "family" => self.col_family,
            "group" => self.col_group,
            "trait" => self.filter_trait,
            "tag" => self.col_tags,
            "identity" | "q" => self.search_label,
            "steps" => self.col_step,
            "window" => self.funnel_window,
            "period" => self.retention_period,
            "cohort_event" => self.cohort_event,
            "return_event" => self.return_event,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_prefers_the_highest_quality_tag() {
        assert_eq!(Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"), Lang::Zh);
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9,zh-CN;q=0.8"), Lang::En);
        assert_eq!(Lang::from_accept_language("en;q=0.5, zh-TW"), Lang::Zh);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
        assert_eq!(Lang::from_accept_language("fr"), Lang::En);
    }

    #[test]
    fn fill_replaces_the_placeholder() {
        assert_eq!(Text::fill(EN.customers_total, 3), "3 customers in total");
        assert_eq!(Text::fill(ZH.customers_total, 3), "共 3 位客户");
    }
}
