import AggregationKit

GatewayCommand.main(profile: .web)
