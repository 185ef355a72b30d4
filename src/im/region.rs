//! Tencent IM data centres and their REST API domains (specs/tencent-im.md §2.2).

use std::str::FromStr;

/// The data centre an IM application lives in; calling the wrong one gives 70016/70020.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Region {
    #[default]
    China,
    Singapore,
    Seoul,
    Tokyo,
    Frankfurt,
    Mumbai,
    SiliconValley,
    Jakarta,
}

impl Region {
    pub fn base_url(self) -> String {
        let host = match self {
            Region::China => "console.tim.qq.com",
            Region::Singapore => "adminapisgp.im.qcloud.com",
            Region::Seoul => "adminapikr.im.qcloud.com",
            Region::Tokyo => "adminapijpn.im.qcloud.com",
            Region::Frankfurt => "adminapiger.im.qcloud.com",
            Region::Mumbai => "adminapiind.im.qcloud.com",
            Region::SiliconValley => "adminapiusa.im.qcloud.com",
            Region::Jakarta => "adminapiidn.im.qcloud.com",
        };
        format!("https://{host}")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("must be one of china, singapore, seoul, tokyo, frankfurt, mumbai, siliconvalley, jakarta (or cn, sgp, kr, jpn, ger, ind, usa, idn), got `{0}`")]
pub struct UnknownRegion(String);

impl FromStr for Region {
    type Err = UnknownRegion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(
            match s.to_ascii_lowercase().replace(['-', '_', ' '], "").as_str() {
                "china" | "cn" => Region::China,
                "singapore" | "sgp" => Region::Singapore,
                "seoul" | "kr" => Region::Seoul,
                "tokyo" | "jpn" => Region::Tokyo,
                "frankfurt" | "ger" => Region::Frankfurt,
                "mumbai" | "ind" => Region::Mumbai,
                "siliconvalley" | "usa" => Region::SiliconValley,
                "jakarta" | "idn" => Region::Jakarta,
                _ => return Err(UnknownRegion(s.to_owned())),
            },
        )
    }
}
