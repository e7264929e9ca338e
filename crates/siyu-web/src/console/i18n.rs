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
    nav_models: "客户模型", "Models";
    nav_segments: "分群", "Segments";
    models_title: "客户模型", "Customer models";
    models_as_of: "计算于", "Computed as of";
    models_customers: "{} 位客户", "{} customers";
    models_buyers: "{} 位购买客户", "{} buyers";
    models_run: "立即重新计算", "Recompute now";
    lifecycle_title: "生命周期阶段", "Lifecycle stages";
    lifecycle_flows: "近 {} 天阶段流转", "Stage flows over the last {} days";
    flows_before: "{} 天前", "{} days ago";
    flows_days: "{} 天", "{} days";
    flows_now: "现在", "Now";
    flows_unseen: "尚未出现", "Not seen yet";
    tiers_title: "价值分层", "Value tiers";
    rfm_classes: "RFM 八类客户", "The eight RFM classes";
    rfm_heatmap: "R × F 热力图", "R × F heatmap";
    health_title: "健康分分布", "Health score distribution";
    health_mean: "平均健康分 {}", "Mean health {}";
    recall_title: "召回名单", "Recall list";
    recall_count: "{} 位客户超过 {} 天未互动", "{} customers without interaction for {} days";
    recall_since: "预警日期", "Warned since";
    last_active: "最近互动", "Last interaction";
    col_health: "健康分", "Health";
    col_stage: "阶段", "Stage";
    col_tier: "层级", "Tier";
    col_orders: "订单数", "Orders";
    ltv_title: "LTV 预测分布", "Predicted LTV";
    ltv_note: "BG/NBD + Gamma-Gamma，未来 {} 天；按预测价值十等分，每组平均值", "BG/NBD + Gamma-Gamma over the next {} days; mean predicted value per tenth of buyers";
    ltv_total: "预测总价值 {}", "Predicted value in all {}";
    ltv_unavailable: "LTV 暂不可用：{}", "LTV unavailable: {}";
    ltv_computing: "LTV 模型正在后台拟合，稍后刷新本页即可看到。", "The LTV model is being fitted in the background; reload this page shortly.";
    ltv_refitting: "新的拟合正在后台计算", "a newer fit is being computed in the background";
    ltv_at_bound: "LTV 模型拟合未收敛：参数 {} 趋向取值范围的边界（数据中看不出模型可归于它的差异），因此不作预测。", "The LTV fit did not converge: parameter {} runs to the edge of its range (the data show no spread the model can ascribe to it), so nothing is predicted.";
    ltv_budget_spent: "LTV 模型拟合在计算预算内未收敛，因此不作预测。", "The LTV fit did not converge within its work budget, so nothing is predicted.";
    models_refreshing: "模型正在后台重新计算，当前显示的是上一次的结果。", "The models are being recomputed in the background; these are the last computed ones.";
    decile_n: "第 {} 组", "Tenth {}";
    segments_title: "分群", "Segments";
    segments_empty: "还没有分群。", "No segments yet.";
    segment_new: "新建分群", "New segment";
    segment_key: "标识", "Key";
    segment_definition: "条件", "Definition";
    segment_size: "人数", "Size";
    segment_trend: "趋势", "Trend";
    segment_save: "保存分群", "Save segment";
    segment_live: "实时人数", "Live size";
    segment_members: "成员", "Members";
    segment_history: "每日人数", "Daily size";
    segment_builder: "条件构建器", "Condition builder";
    segment_text_label: "分群语言", "Segment language";
    segment_add: "添加条件", "Add condition";
    segment_match_all: "满足全部条件", "Match all";
    segment_match_any: "满足任一条件", "Match any";
    segment_add_group: "添加分组", "Add group";
    segment_not: "不满足", "not";
    segment_advanced: "该定义含构建器无法显示的条件（如求和、区间、属性筛选），请在文本中编辑。", "This definition has conditions the builder cannot show (sums, date ranges, property filters): edit it as text.";
    segment_help: "例：tag(\"VIP\") and trait.city = \"上海\" and did(\"Order Completed\", count >= 2, within 30d)", "e.g. tag(\"VIP\") and trait.city = \"上海\" and did(\"Order Completed\", count >= 2, within 30d)";
    models_panel: "客户模型", "Models";
    models_none: "该客户还没有行为数据。", "This customer has no behaviour yet.";
    churn_risk: "流失风险", "Churn risk";
    p_alive: "存活概率", "Probability alive";
    expected_value: "预测价值", "Predicted value";
    rfm_scores: "RFM 评分", "RFM scores";
    models_settings: "模型阈值", "Model thresholds";
    models_settings_note: "修改后模型立即按新阈值重新计算。天数为 1–10000；沉默天数须小于流失天数。", "Models are recomputed with new thresholds at once. Days run from 1 to 10000; dormant days must be fewer than churned days.";
    set_new_days: "导入期天数（首次出现后）", "Days a new customer stays new";
    set_dormant_days: "休眠：未互动天数", "Dormant after days without interaction";
    set_churned_days: "流失：未互动天数", "Churned after days without interaction";
    set_mature_orders: "成熟期：订单数", "Orders that make a customer mature";
    set_vip_min_orders: "VIP：最少订单数", "VIP: at least this many orders";
    set_vip_min_aov: "VIP：最低客单价（空=中位数）", "VIP: minimum order value (empty = median)";
    set_potential_days: "潜力客户：统计天数", "Potential: days counted";
    set_potential_min_events: "潜力客户：最少互动数", "Potential: interactions at least";
    set_churn_days: "流失预警：未互动天数", "Churn warning after days without interaction";
    set_rfm_high_score: "RFM 高分线（空=均值以上）", "RFM high from score (empty = above the mean)";
    set_health_recency_days: "健康分：近度天数", "Health: recency days";
    set_health_trend_days: "健康分：趋势窗口天数", "Health: trend window days";
    set_ltv_horizon_days: "LTV 预测天数", "LTV horizon, days";
    set_refresh_minutes: "重新计算间隔（分钟）", "Recompute every (minutes)";
    set_edges_recency: "RFM 固定分档：最近购买天数（4 个递增值，逗号分隔；三项皆空=五分位）", "RFM fixed edges: days since last order (4 ascending values, comma-separated; all three empty = quintiles)";
    set_edges_frequency: "RFM 固定分档：订单数（4 个递增值）", "RFM fixed edges: orders (4 ascending values)";
    set_edges_monetary: "RFM 固定分档：消费金额（4 个递增值）", "RFM fixed edges: revenue (4 ascending values)";
    set_passive_events: "被动事件（品牌发出，不算互动；逗号分隔）", "Passive events (made by the brand, not interactions; comma-separated)";
    set_message_received_events: "消息送达事件（逗号分隔）", "Message received events (comma-separated)";
    set_message_engaged_events: "消息互动事件（逗号分隔）", "Message engaged events (comma-separated)";
    save: "保存", "Save";
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
    no_order_data_title: "暂无订单数据", "No order data";
    no_order_data_body: "本工作空间还没有任何“Order Completed”订单事件，RFM 与 LTV 模型无数据可算。", "No customer of this workspace has an \"Order Completed\" event yet, so RFM and LTV have nothing to score.";
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
    known_properties: "已有属性：", "Known properties:";
    filters_label: "属性筛选（每行一个，如 category = shoes、price >= 100、channel in wecom,sms）", "Property filters (one per line, e.g. category = shoes, price >= 100, channel in wecom,sms)";
    funnel_filters_label: "属性筛选（每行一个；以步骤号开头只筛该步，如 2: category = shoes）", "Property filters (one per line; start with a step number to filter that step only, e.g. 2: category = shoes)";
    breakdown_label: "按属性拆分", "Break down by property";
    measure_label: "求和与平均的数值属性", "Numeric property to sum and average";
    none_value: "（无）", "(none)";
    col_sum: "合计", "Sum";
    breakdown_title: "按 {} 拆分（第一步事件的属性）", "By {} (of the step-1 event)";
    more_groups: "另有 {} 个取值未列出。", "{} more values are not shown.";
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
    analytics_segmentation: "事件", "Events";
    analytics_paths: "路径", "Paths";
    segmentation_title: "事件分析", "Event segmentation";
    segmentation_events: "事件（事件名用英文逗号分隔，最多 20 个）", "Events (names, comma-separated, up to 20)";
    segmentation_placeholder: "如 Product Viewed,Order Completed", "e.g. Product Viewed,Order Completed";
    segmentation_hint: "请输入至少一个事件。", "Enter at least one event.";
    segmentation_note: "日期留空即从数据的第一天到最后一天；按工作空间时区（{}）分桶，每周从周一开始。", "Leave the dates blank to cover the data's first to last day; buckets are in the workspace time zone ({}), weeks start on Monday.";
    segmentation_chart: "趋势图", "Trend";
    segmentation_measure: "图表指标", "Chart measure";
    date_from: "开始日期", "From";
    date_to: "结束日期", "To";
    measure_counts: "次数", "Count";
    measure_customers: "客户数（去重）", "Distinct customers";
    col_bucket: "周期起始日", "Period start";
    col_count: "次数", "Count";
    col_revenue: "金额", "Revenue";
    event_n: "第 {} 个事件", "Event {}";
    paths_title: "路径分析", "Path analysis";
    paths_event: "起点事件", "Anchor event";
    paths_direction: "方向", "Direction";
    paths_depth: "步数", "Steps";
    direction_next: "之后做了什么", "What customers did next";
    direction_previous: "之前做了什么", "What customers did before";
    paths_customers: "做过「{}」的客户：{} 位", "Customers who did “{}”: {}";
    paths_chart: "路径桑基图", "Sankey diagram";
    paths_chart_note: "每位客户从第一次（向前看则为最后一次）做起点事件算起；图中每一步只保留客户最多的 {} 条流向，下表列出全部流向。", "Each customer counts from their first occurrence of the anchor event (their last, looking back); the chart keeps the {} largest flows of each step, the table lists them all.";
    paths_table_cut: "每一步只列出客户最多的 {} 条流向。", "Only the {} largest flows of each step are listed.";
    paths_none: "做过该事件的客户在这个方向上没有其他事件。", "The customers who did this event did nothing else in this direction.";
    col_next_event: "下一个事件", "Next event";
    col_previous_event: "上一个事件", "Previous event";
    col_share: "占起点客户", "Share of anchor customers";
    nav_home: "概览", "Overview";
    home_title: "经营概览", "Overview";
    home_as_of: "数据截至 {}（最近一个有事件的日子）", "Figures as of {}, the latest day with events";
    home_more: "更多分析 →", "More analysis →";
    home_chart_note: "图表需要 JavaScript。", "The chart needs JavaScript.";
    kpi_dau: "日活跃客户", "Daily active customers";
    kpi_wau: "7 日活跃客户", "Active in 7 days";
    kpi_mau: "30 日活跃客户", "Active in 30 days";
    kpi_gmv: "GMV（30 天）", "GMV (30 days)";
    kpi_orders: "订单数（30 天）", "Orders (30 days)";
    kpi_new_1d: "当日新客户", "New customers (day)";
    kpi_new_7d: "7 日新客户", "New customers (7 days)";
    kpi_new_30d: "30 日新客户", "New customers (30 days)";
    kpi_arpu: "ARPU（30 天）", "ARPU (30 days)";
    kpi_repurchase: "复购率", "Repurchase rate";
    kpi_retention_d1: "次日留存", "Day-1 retention";
    kpi_retention_d7: "7 日留存", "Day-7 retention";
    kpi_retention_d30: "30 日留存", "Day-30 retention";
    kpi_open_rate: "消息打开率（30 天）", "Message open rate (30 days)";
    kpi_coupon_rate: "优惠券核销率（30 天）", "Coupon redemption (30 days)";
    kpi_hint_arpu: "30 天 GMV ÷ 30 日活跃客户", "30-day GMV per customer active in 30 days";
    kpi_hint_repurchase: "下单客户中至少下过两单的占比", "Share of buyers with two or more orders";
    kpi_hint_retention: "{}前的新客户中当日仍活跃的占比", "Share of the customers new {} earlier who were active on the day";
    kpi_hint_open_rate: "Message Opened ÷ Message Sent（或 Message Delivered）", "Message Opened per Message Sent (or Message Delivered)";
    kpi_hint_coupon_rate: "Coupon Applied ÷ Coupon Issued（或 Coupon Entered）", "Coupon Applied per Coupon Issued (or Coupon Entered)";
    kpi_none_cohort: "{}前没有新客户，无从计算", "No customers were new {} earlier";
    kpi_none_buyers: "还没有 Order Completed 事件", "No Order Completed events yet";
    kpi_none_active: "30 天内没有活跃客户", "No customers active in the 30 days";
    kpi_none_messages: "30 天内没有 Message Sent 或 Message Delivered 事件", "No Message Sent or Message Delivered events in the 30 days";
    kpi_none_coupons: "30 天内没有 Coupon Issued 或 Coupon Entered 事件", "No Coupon Issued or Coupon Entered events in the 30 days";
    home_activity_chart: "每日活跃客户与订单（近 30 天）", "Active customers and orders per day (last 30 days)";
    home_gmv_chart: "每日 GMV（近 30 天）", "GMV per day (last 30 days)";
    home_active_series: "做过「{}」的客户", "Customers who did “{}”";
    home_orders_series: "订单数", "Orders";
    home_gmv_series: "GMV", "GMV";
    home_active_note: "每日活跃客户以「{}」计：近 30 天里做过它的客户最多。上方卡片里的日活跃客户则计入任意事件。", "Daily activity is counted by “{}”, the event the most customers did in these 30 days; the daily active customers card above counts any event.";
    home_active_note_cut: "（只比较了前 20 个事件名。）", "(Only the first 20 event names were compared.)";
    home_no_orders: "还没有 Order Completed 事件，因此没有订单与 GMV 走势。", "There are no Order Completed events yet, so there is no order or GMV trend.";
    home_empty_title: "还没有行为事件", "No events yet";
    home_empty_body: "工作空间收到行为事件后，这里会显示日活、新客、留存、复购、GMV 等指标和走势。发送事件有两种方式：", "Once the workspace receives events, this page shows active customers, new customers, retention, repurchases, GMV and their trends. There are two ways to send events:";
    home_empty_api: "实时上报：用写入密钥（write key）调用兼容 Segment 的事件上报 API，例如 POST /v1/batch：", "Live: send them to the Segment-compatible Tracking API with a write key, e.g. POST /v1/batch:";
    home_empty_key: "写入密钥在「API 密钥」页创建。", "Create a write key on the API keys page.";
    home_empty_key_owner: "写入密钥由工作空间所有者在「API 密钥」页创建。", "The workspace owner creates write keys on the API keys page.";
    home_empty_import: "导入历史：用命令行导入 Parquet、CSV 或 NDJSON 文件：", "History: import a Parquet, CSV or NDJSON file from the command line:";
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
    perm_analytics_read: "查看分析（概览、漏斗、留存、RFM、事件、路径）", "Run analytics (overview, funnels, retention, RFM, events, paths)";
    perm_segments_manage: "创建和修改分群及模型阈值", "Create and change segments and model thresholds";
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

    /// Fills the two `{}` placeholders of a string in order (a `{}` inside `first` stays as it is).
    pub(crate) fn fill2(template: &str, first: impl std::fmt::Display, second: impl std::fmt::Display) -> String {
        match template.split_once("{}") {
            Some((head, rest)) => format!("{head}{first}{}", Self::fill(rest, second)),
            None => template.into(),
        }
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
            Permission::SegmentsManage => self.perm_segments_manage,
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
            "events" => self.col_event,
            "from" => self.date_from,
            "to" => self.date_to,
            "event" => self.paths_event,
            "direction" => self.paths_direction,
            "depth" => self.paths_depth,
            "filters" => self.filters_label,
            "breakdown" => self.breakdown_label,
            "measure" => self.measure_label,
            "text" | "definition" => self.segment_definition,
            "new_days" => self.set_new_days,
            "dormant_days" => self.set_dormant_days,
            "churned_days" => self.set_churned_days,
            "churn_days" => self.set_churn_days,
            "mature_orders" => self.set_mature_orders,
            "vip_min_orders" => self.set_vip_min_orders,
            "vip_min_aov" => self.set_vip_min_aov,
            "rfm_high_score" => self.set_rfm_high_score,
            "potential_days" => self.set_potential_days,
            "potential_min_events" => self.set_potential_min_events,
            "health_recency_days" => self.set_health_recency_days,
            "health_trend_days" => self.set_health_trend_days,
            "ltv_horizon_days" => self.set_ltv_horizon_days,
            "refresh_minutes" => self.set_refresh_minutes,
            "rfm_edges" | "rfm_edges.recency_days" => self.set_edges_recency,
            "rfm_edges.frequency" => self.set_edges_frequency,
            "rfm_edges.monetary" => self.set_edges_monetary,
            "passive_events" => self.set_passive_events,
            "message_received_events" => self.set_message_received_events,
            "message_engaged_events" => self.set_message_engaged_events,
            "key" => self.segment_key,
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
        assert_eq!(Text::fill2(EN.paths_customers, "A {}", 7), "Customers who did “A {}”: 7");
    }
}
