//! Campaigns (活动): the activities customers take part in. This slice has so far the customer
//! tokens the public endpoints take ([`token`]), their rate limits ([`limits`]), coupons (优惠券:
//! templates, codes and benefits in [`coupon`], their store in [`coupon_store`], issue, claim,
//! redemption, refund, expiry and bulk issues in [`coupons`]) and flash sales (秒杀, [`flash_sale`]): stock taken by one conditional transaction per purchase ([`store`]),
//! the many attempts a sale draws answered from memory by each sale's [`gate`] where the store
//! would refuse them, unpaid orders released on time by a worker, every attempt and refusal
//! counted and every order recorded as an event.

pub mod checkin;
pub mod checkin_store;
pub mod checkins;
pub mod coupon;
pub mod coupon_store;
pub mod coupons;
pub mod flash_sale;
pub(crate) mod gate;
pub mod group_buy;
pub mod group_buy_store;
pub mod group_buys;
mod input;
pub mod limits;
pub mod lotteries;
pub mod lottery;
pub mod lottery_store;
mod personal_data;
pub mod quiz;
pub mod quiz_store;
pub mod quizzes;
pub mod rewards;
pub mod service;
pub mod store;
pub mod token;

pub use crate::error::CampaignError;
pub use coupon::{Benefit, TemplateInput, Validity};
pub use coupons::{CouponView, IssueView, RedeemInput, RedemptionView, TemplateView};
pub use flash_sale::{FlashSaleInput, FlashSaleView, OrderView, PublicSaleView};
pub use service::{Campaigns, CustomerPass, IssuedToken, TokenInput};
